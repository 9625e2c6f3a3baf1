//! The candle backend on the tiny model: loaders, determinism, streaming, constraints, queue.

use std::path::Path;
use std::sync::Arc;

use clinrag_llm_runtime::{
    CancelToken, ChatModel, ChatRequest, FinishReason, JsonGrammar, LlmError, LocalConfig,
    LocalModel, Message, Requantize, SamplingParams, StreamEvent, collect,
};
use futures::StreamExt;
use proptest::prelude::*;

use crate::fixtures::{self, GgufOptions};

fn cfg() -> LocalConfig {
    LocalConfig {
        threads: Some(1),
        ..LocalConfig::default()
    }
}

fn gguf_model(dir: &Path, quantize: bool) -> LocalModel {
    let path = fixtures::write_gguf(
        dir,
        11,
        &GgufOptions {
            quantize,
            ..GgufOptions::default()
        },
    );
    LocalModel::load(&path, &cfg()).unwrap()
}

fn msgs(text: &str) -> Vec<Message> {
    vec![Message::system("You are terse."), Message::user(text)]
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn gguf_and_safetensors_loaders_agree_on_greedy_output() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = gguf_model(dir.path(), false);
    let st_dir = dir.path().join("st");
    std::fs::create_dir(&st_dir).unwrap();
    fixtures::write_safetensors(&st_dir, 11);
    let st = LocalModel::load(&st_dir, &cfg()).unwrap();
    assert_eq!(gguf.info().backend, "candle-gguf");
    assert_eq!(st.info().backend, "candle-safetensors");
    assert_eq!(gguf.info().context_length, fixtures::CONTEXT);
    rt().block_on(async {
        let req = ChatRequest::new(msgs("the heart"), SamplingParams::greedy(12));
        let a = gguf.complete(req.clone()).await.unwrap();
        let b = st.complete(req).await.unwrap();
        assert_eq!(a.usage.prompt_tokens, b.usage.prompt_tokens);
        assert!(a.usage.prompt_tokens > 10);
        assert_eq!(
            a.text, b.text,
            "same weights through both loaders must decode the same"
        );
        assert!(a.usage.completion_tokens >= 1);
    });
}

#[test]
fn seeded_sampling_is_deterministic_and_seed_dependent() {
    let dir = tempfile::tempdir().unwrap();
    let m = gguf_model(dir.path(), true);
    rt().block_on(async {
        let run = |seed: u64| {
            let p = SamplingParams {
                temperature: 1.0,
                top_k: 50,
                top_p: 0.95,
                seed,
                max_tokens: 16,
                ..Default::default()
            };
            m.complete(ChatRequest::new(msgs("in the"), p))
        };
        let a = run(7).await.unwrap();
        let b = run(7).await.unwrap();
        assert_eq!(a.text, b.text);
        let mut differs = false;
        for seed in 8..12 {
            differs |= run(seed).await.unwrap().text != a.text;
        }
        assert!(differs, "different seeds never changed the sample");
    });
}

#[test]
fn stream_events_usage_limits_and_stop_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let m = gguf_model(dir.path(), true);
    rt().block_on(async {
        // Ban the end-of-turn token from winning by running long enough to see Length.
        let p = SamplingParams {
            max_tokens: 20,
            repetition_penalty: 1.3,
            ..SamplingParams::greedy(20)
        };
        let mut s = m.generate(ChatRequest::new(msgs("on"), p.clone()));
        let mut text = String::new();
        let mut last = None;
        while let Some(ev) = s.next().await {
            match ev.unwrap() {
                StreamEvent::Delta(d) => {
                    assert!(last.is_none(), "delta after done");
                    text.push_str(&d);
                }
                StreamEvent::Done {
                    finish,
                    usage,
                    timings,
                } => last = Some((finish, usage, timings)),
            }
        }
        let (finish, usage, timings) = last.expect("no Done event");
        assert!(usage.completion_tokens <= 20);
        if finish == FinishReason::Length {
            assert_eq!(usage.completion_tokens, 20);
        }
        let t = timings.unwrap();
        assert!(t.prefill_secs > 0.0 && t.prefill_tokens == usage.prompt_tokens);
        // A stop sequence taken from the middle of that text cuts the output right before it.
        let chars: Vec<char> = text.chars().collect();
        if chars.len() >= 6 {
            let stop: String = chars[3..5].iter().collect();
            let cut = text.find(&stop).unwrap();
            let p2 = SamplingParams {
                stop: vec![stop],
                ..p
            };
            let c = m.complete(ChatRequest::new(msgs("on"), p2)).await.unwrap();
            assert_eq!(c.finish, FinishReason::StopSequence);
            assert_eq!(c.text, text[..cut]);
        }
    });
}

#[test]
fn prompt_prefix_is_reused_and_gives_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let m = gguf_model(dir.path(), false);
    let fresh = LocalModel::load(&dir.path().join("tiny.gguf"), &cfg()).unwrap();
    rt().block_on(async {
        let first = m
            .complete(ChatRequest::new(msgs("the"), SamplingParams::greedy(1)))
            .await
            .unwrap();
        assert_eq!(first.usage.cached_prompt_tokens, 0);
        let mut turn2 = msgs("the");
        turn2.push(Message::assistant("on"));
        turn2.push(Message::user("in"));
        let req = ChatRequest::new(turn2, SamplingParams::greedy(8));
        let reused = m.complete(req.clone()).await.unwrap();
        assert_eq!(reused.usage.cached_prompt_tokens, first.usage.prompt_tokens);
        let cold = fresh.complete(req).await.unwrap();
        assert_eq!(cold.usage.cached_prompt_tokens, 0);
        assert_eq!(reused.text, cold.text);
    });
}

#[test]
fn cancellation_by_token_and_by_dropping_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let m = gguf_model(dir.path(), true);
    rt().block_on(async {
        let cancel = CancelToken::new();
        cancel.cancel();
        let req = ChatRequest {
            cancel,
            ..ChatRequest::new(msgs("x"), SamplingParams::greedy(50))
        };
        assert!(matches!(
            collect(m.generate(req)).await,
            Err(LlmError::Cancelled)
        ));
        let mut s = m.generate(ChatRequest::new(msgs("x"), SamplingParams::greedy(50)));
        let _ = s.next().await;
        drop(s);
        // The engine survives and serves the next request.
        let c = m
            .complete(ChatRequest::new(msgs("x"), SamplingParams::greedy(3)))
            .await
            .unwrap();
        assert!(c.usage.completion_tokens <= 3);
    });
}

#[test]
fn bounded_queue_rejects_when_full_and_engine_never_blocks_callers() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixtures::write_gguf(dir.path(), 11, &GgufOptions::default());
    let m = Arc::new(
        LocalModel::load(
            &path,
            &LocalConfig {
                queue_capacity: 1,
                threads: Some(1),
                ..LocalConfig::default()
            },
        )
        .unwrap(),
    );
    rt().block_on(async {
        let streams: Vec<_> = (0..12)
            .map(|_| m.generate(ChatRequest::new(msgs("the"), SamplingParams::greedy(40))))
            .collect();
        let results = futures::future::join_all(streams.into_iter().map(collect)).await;
        let full = results
            .iter()
            .filter(|r| matches!(r, Err(LlmError::QueueFull { capacity: 1 })))
            .count();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert!(full >= 1, "queue of 1 never filled");
        assert!(ok >= 1);
        assert_eq!(full + ok, 12);
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(LlmError::is_retryable)
        );
    });
}

#[test]
fn context_overflow_and_bad_params_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = gguf_model(dir.path(), true);
    rt().block_on(async {
        let long = "the heart ".repeat(200);
        let r = m
            .complete(ChatRequest::new(msgs(&long), SamplingParams::greedy(4)))
            .await;
        match r {
            Err(e @ LlmError::ContextOverflow { .. }) => {
                assert!(e.is_caller_fault() && !e.is_retryable())
            }
            other => panic!("expected ContextOverflow, got {other:?}"),
        }
        let bad = SamplingParams {
            temperature: -1.0,
            ..SamplingParams::default()
        };
        assert!(matches!(
            m.complete(ChatRequest::new(msgs("x"), bad)).await,
            Err(LlmError::InvalidRequest(_))
        ));
        assert!(matches!(
            m.complete(ChatRequest::new(vec![], SamplingParams::default()))
                .await,
            Err(LlmError::InvalidRequest(_))
        ));
        // Generation that reaches the end of the window stops with ContextFull, not an error.
        let near = "the ".repeat(30);
        let c = m
            .complete(ChatRequest::new(
                msgs(&near),
                SamplingParams {
                    repetition_penalty: 1.5,
                    ..SamplingParams::greedy(200)
                },
            ))
            .await
            .unwrap();
        assert!(c.usage.prompt_tokens + c.usage.completion_tokens <= fixtures::CONTEXT + 1);
    });
}

#[test]
fn json_output_always_parses_and_matches_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let m = gguf_model(dir.path(), true);
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "code": {"enum": ["E11.9", "I10"]},
            "confident": {"type": "boolean"},
            "count": {"type": "integer"},
            "notes": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 2}
        }
    });
    let grammar = JsonGrammar::compile(&schema).unwrap();
    rt().block_on(async {
        for (seed, temperature) in [(1, 0.0), (2, 0.8), (3, 1.2)] {
            let p = SamplingParams {
                seed,
                temperature,
                max_tokens: 200,
                ..SamplingParams::default()
            };
            let v = m
                .generate_json(msgs("code it"), schema.clone(), p)
                .await
                .unwrap();
            assert!(grammar.accepts(&v.to_string()), "{v}");
            assert!(v["count"].is_i64() || v["count"].is_u64());
        }
        let bad = serde_json::json!({"oneOf": []});
        assert!(matches!(
            m.generate_json(msgs("x"), bad, SamplingParams::default())
                .await,
            Err(LlmError::UnsupportedSchema(_))
        ));
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the options, seed and temperature, `choose` answers with one of the options.
    #[test]
    fn constrained_choice_never_leaves_the_allowed_set(
        options in prop::collection::vec("[A-Z][0-9]{1,2}(\\.[0-9])?|the|he|in|on", 1..6),
        seed in 0u64..1000,
        temperature in prop_oneof![Just(0.0f32), 0.1f32..2.0],
    ) {
        let m = SHARED.with(|m| m.clone());
        let p = SamplingParams { seed, temperature, ..SamplingParams::default() };
        let idx = rt().block_on(m.choose(msgs("Pick a code."), options.clone(), p)).unwrap();
        prop_assert!(idx < options.len());
        // Duplicates resolve to the first occurrence.
        prop_assert_eq!(options.iter().position(|o| *o == options[idx]), Some(idx));
    }
}

thread_local! {
    static SHARED: Arc<LocalModel> = {
        let dir = tempfile::tempdir().unwrap();
        let path = fixtures::write_gguf(dir.path(), 5, &GgufOptions { quantize: true, ..GgufOptions::default() });
        Arc::new(LocalModel::load(&path, &cfg()).unwrap())
    };
}

/// The real default model, when the data is present: a chat prompt gives a sensible answer.
#[test]
fn default_model_answers_sensibly_when_data_is_present() {
    let Ok(home) = std::env::var("CLINRAG_TEST_DATA") else {
        eprintln!("skipped: set CLINRAG_TEST_DATA=/tmp/clinrag-home to run the SmolLM2 check");
        return;
    };
    let path =
        Path::new(&home).join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    for requantize in [Requantize::Q8_0, Requantize::Off] {
        let m = LocalModel::load(
            &path,
            &LocalConfig {
                requantize,
                ..LocalConfig::default()
            },
        )
        .unwrap();
        assert_eq!(m.info().context_length, 4096);
        rt().block_on(async {
            let ask = |q: &str| {
                m.complete(ChatRequest::new(vec![Message::user(q)], SamplingParams::greedy(24)))
            };
            let c = ask("What is the capital of France? Answer in one sentence.").await.unwrap();
            assert!(c.text.contains("Paris"), "{:?}", c.text);
            let c = ask("Name the organ that pumps blood through the body.").await.unwrap();
            assert!(c.text.to_lowercase().contains("heart"), "{:?}", c.text);
            let idx = m
                .choose(
                    vec![Message::user("Name the organ that pumps blood through the body.")],
                    vec!["The liver".into(), "The heart".into(), "The kidneys".into()],
                    SamplingParams::default(),
                )
                .await
                .unwrap();
            assert_eq!(idx, 1);
            let schema = serde_json::json!({"type": "object", "properties": {
                "capital": {"type": "string", "maxLength": 20}, "country": {"enum": ["France", "Spain"]}}});
            let v = m
                .generate_json(
                    vec![Message::user("Give the capital of France as JSON with keys capital and country.")],
                    schema,
                    SamplingParams::greedy(40),
                )
                .await
                .unwrap();
            assert_eq!(v["country"], "France", "{v}");
        });
    }
}
