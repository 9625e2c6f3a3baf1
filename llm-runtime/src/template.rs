//! Chat templates: the model's own Jinja template (rendered with minijinja) or a built-in ChatML / Llama 3 one.

use minijinja::{Environment, ErrorKind, context};

use crate::error::{LlmError, Result};
use crate::types::Message;

/// ChatML (SmolLM, Qwen and many others).
pub const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// Llama 3 / 3.x instruct format.
pub const LLAMA3: &str = "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

/// Instructions one render may execute (minijinja fuel). Real templates use a few thousand
/// for a long conversation; a runaway loop stops with an "out of fuel" error.
const TEMPLATE_FUEL: u64 = 1_000_000;

/// A compiled chat template with its BOS/EOS strings.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
    source: TemplateSource,
}

/// Where the template came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateSource {
    Model,
    ChatMl,
    Llama3,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source", &self.source)
            .finish()
    }
}

fn raise_exception(msg: String) -> std::result::Result<String, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
}

/// `strftime_now` as used by Llama 3.1+ templates; supports %d %m %Y %b %B.
fn strftime_now(fmt: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let name = MONTHS[(m - 1) as usize];
    fmt.replace("%d", &format!("{d:02}"))
        .replace("%m", &format!("{m:02}"))
        .replace("%Y", &y.to_string())
        .replace("%B", name)
        .replace("%b", &name[..3])
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl ChatTemplate {
    /// Compiles `template` (from the model) or, when absent, the fallback that fits the vocabulary.
    pub fn new(
        template: Option<String>,
        fallback: TemplateSource,
        bos: String,
        eos: String,
    ) -> Result<Self> {
        let (source, text) = match template {
            Some(t) if !t.trim().is_empty() => (TemplateSource::Model, t),
            _ => match fallback {
                TemplateSource::Llama3 => (TemplateSource::Llama3, LLAMA3.to_string()),
                _ => (TemplateSource::ChatMl, CHATML.to_string()),
            },
        };
        let mut env = Environment::new();
        // A model file's template is untrusted input: bound the work of one render (loops,
        // recursion) instead of letting a crafted template spin forever.
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned("chat", text)
            .map_err(|e| LlmError::Template(format!("cannot compile: {e}")))?;
        Ok(Self {
            env,
            bos,
            eos,
            source,
        })
    }

    /// Where this template came from.
    #[cfg(test)]
    pub fn source(&self) -> TemplateSource {
        self.source
    }

    /// Renders the conversation, ending with the assistant header when `add_generation_prompt`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| LlmError::Template(e.to_string()))?;
        tmpl.render(context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos,
            eos_token => self.eos,
        })
        .map_err(|e| LlmError::Template(format!("cannot render: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs() -> Vec<Message> {
        vec![Message::system("Be brief."), Message::user("Hi  ")]
    }

    #[test]
    fn builtin_templates_render() {
        let cases = [
            (
                TemplateSource::ChatMl,
                "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi  <|im_end|>\n<|im_start|>assistant\n",
            ),
            (
                TemplateSource::Llama3,
                "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            ),
        ];
        for (src, want) in cases {
            let t = ChatTemplate::new(None, src, "<s>".into(), "</s>".into()).unwrap();
            assert_eq!(t.source(), src);
            assert_eq!(t.render(&msgs(), true).unwrap(), want);
        }
    }

    #[test]
    fn model_template_with_python_methods_and_exceptions() {
        let src = "{% if messages[0]['role'] != 'system' %}{{ raise_exception('system first') }}{% endif %}{% for m in messages %}[{{ m['role'].upper() }}]{{ m['content'].strip() }}{% endfor %}";
        let t = ChatTemplate::new(
            Some(src.into()),
            TemplateSource::ChatMl,
            String::new(),
            String::new(),
        )
        .unwrap();
        assert_eq!(t.source(), TemplateSource::Model);
        assert_eq!(
            t.render(&msgs(), true).unwrap(),
            "[SYSTEM]Be brief.[USER]Hi"
        );
        let err = t.render(&[Message::user("x")], true).unwrap_err();
        assert!(err.to_string().contains("system first"), "{err}");
        let bad = ChatTemplate::new(
            Some("{% for %}".into()),
            TemplateSource::ChatMl,
            String::new(),
            String::new(),
        );
        assert!(matches!(bad, Err(LlmError::Template(_))));
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_688), (2026, 8, 23));
        assert_eq!(strftime_now("%Y".into()).len(), 4);
    }

    /// A model file's template is untrusted: unbounded loops end with an error (fuzz target
    /// `chat_template`), and a real conversation stays far within the budget.
    #[test]
    fn runaway_templates_are_stopped() {
        let model = |src: &str| {
            ChatTemplate::new(
                Some(src.into()),
                TemplateSource::ChatMl,
                String::new(),
                String::new(),
            )
            .unwrap()
        };
        let loops = model(
            "{% for a in range(3000) %}{% for b in range(3000) %}{% endfor %}{% endfor %}done",
        );
        let err = loops.render(&msgs(), true).unwrap_err();
        assert!(err.to_string().contains("fuel"), "{err}");
        let recursion = model("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}");
        assert!(recursion.render(&msgs(), true).is_err());
        let long: Vec<Message> = (0..200)
            .map(|i| Message::user(format!("message {i} {}", "word ".repeat(200))))
            .collect();
        for src in [TemplateSource::ChatMl, TemplateSource::Llama3] {
            let t = ChatTemplate::new(None, src, "<s>".into(), "</s>".into()).unwrap();
            assert!(t.render(&long, true).is_ok());
        }
    }
}
