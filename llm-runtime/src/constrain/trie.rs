//! A trie over token-id sequences: the tokenizations of the allowed strings.

use crate::error::{LlmError, Result};

#[derive(Debug, Default)]
struct Node {
    children: Vec<(u32, usize)>,
    /// Index of the option that ends here.
    terminal: Option<usize>,
}

/// Token trie of the allowed options.
#[derive(Debug)]
pub(crate) struct TokenTrie {
    nodes: Vec<Node>,
}

impl TokenTrie {
    /// Builds the trie; option `i` is the token sequence `seqs[i]`. For duplicates the first wins.
    pub(crate) fn build(seqs: &[Vec<u32>]) -> Result<Self> {
        if seqs.is_empty() {
            return Err(LlmError::InvalidRequest(
                "choose needs at least one option".into(),
            ));
        }
        let mut nodes = vec![Node::default()];
        for (i, seq) in seqs.iter().enumerate() {
            if seq.is_empty() {
                return Err(LlmError::InvalidRequest(format!("option {i} is empty")));
            }
            let mut cur = 0;
            for &t in seq {
                cur = match nodes[cur].children.iter().find(|(tok, _)| *tok == t) {
                    Some(&(_, next)) => next,
                    None => {
                        nodes.push(Node::default());
                        let next = nodes.len() - 1;
                        nodes[cur].children.push((t, next));
                        next
                    }
                };
            }
            if nodes[cur].terminal.is_none() {
                nodes[cur].terminal = Some(i);
            }
        }
        Ok(Self { nodes })
    }

    pub(crate) const ROOT: usize = 0;

    /// Tokens that may follow at `node`.
    pub(crate) fn next_tokens(&self, node: usize) -> impl Iterator<Item = u32> + '_ {
        self.nodes
            .get(node)
            .into_iter()
            .flat_map(|n| n.children.iter().map(|(t, _)| *t))
    }

    /// The node after `token`, if allowed.
    pub(crate) fn step(&self, node: usize, token: u32) -> Option<usize> {
        self.nodes
            .get(node)?
            .children
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, n)| *n)
    }

    /// The option that ends at `node`, if any.
    pub(crate) fn terminal(&self, node: usize) -> Option<usize> {
        self.nodes.get(node).and_then(|n| n.terminal)
    }

    /// Whether `node` has no continuation.
    pub(crate) fn is_leaf(&self, node: usize) -> bool {
        self.nodes.get(node).is_none_or(|n| n.children.is_empty())
    }
}

/// Walks the trie: `pick(allowed)` chooses among the allowed tokens (the end-of-option marker
/// `stop` is offered where an option ends and could also continue). Returns the option index.
pub(crate) fn walk(
    trie: &TokenTrie,
    stop: u32,
    mut pick: impl FnMut(&[u32]) -> Result<u32>,
) -> Result<(usize, Vec<u32>)> {
    let mut node = TokenTrie::ROOT;
    let mut emitted = Vec::new();
    let mut allowed = Vec::new();
    loop {
        if trie.is_leaf(node) {
            let idx = trie
                .terminal(node)
                .ok_or_else(|| LlmError::Compute("token trie leaf without an option".into()))?;
            return Ok((idx, emitted));
        }
        allowed.clear();
        allowed.extend(trie.next_tokens(node));
        if trie.terminal(node).is_some() {
            allowed.push(stop);
        }
        let tok = pick(&allowed)?;
        if !allowed.contains(&tok) {
            return Err(LlmError::Compute(format!(
                "sampler picked token {tok} outside the allowed set"
            )));
        }
        if tok == stop && trie.terminal(node).is_some() && trie.step(node, tok).is_none() {
            return trie
                .terminal(node)
                .map(|i| (i, emitted))
                .ok_or_else(|| LlmError::Compute("token trie lost its option".into()));
        }
        emitted.push(tok);
        node = trie
            .step(node, tok)
            .ok_or_else(|| LlmError::Compute("token trie step failed".into()))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_options_need_the_stop_marker() {
        // "a" = [1], "ab" = [1, 2], "c" = [3]
        let t = TokenTrie::build(&[vec![1], vec![1, 2], vec![3]]).unwrap();
        let cases: Vec<(Vec<u32>, usize)> = vec![(vec![1, 99], 0), (vec![1, 2], 1), (vec![3], 2)];
        for (script, want) in cases {
            let mut it = script.clone().into_iter();
            let (idx, emitted) = walk(&t, 99, |_| Ok(it.next().unwrap())).unwrap();
            assert_eq!(idx, want, "{script:?}");
            assert!(emitted.iter().all(|&x| x != 99));
        }
    }

    proptest::proptest! {
        /// With random logits and any sampling settings, the walk ends on an allowed option and
        /// the emitted tokens are exactly that option's tokens.
        #[test]
        fn walk_with_sampler_stays_in_the_set(
            options in proptest::collection::vec(proptest::collection::vec(0u32..12, 1..5), 1..8),
            logits in proptest::collection::vec(-5f32..5.0, 16),
            seed in 0u64..100,
            temperature in 0f32..2.0,
        ) {
            let trie = TokenTrie::build(&options).unwrap();
            let params = crate::types::SamplingParams { seed, temperature, top_k: 3, ..Default::default() };
            let mut sampler = crate::sampling::Sampler::new(&params);
            let mut step = 0usize;
            let (idx, emitted) = walk(&trie, 15, |allowed| {
                // Different logits at each step: rotate the random vector.
                step += 1;
                let mut l = logits.clone();
                l.rotate_left(step % 16);
                Ok(sampler.sample(&l, Some(allowed)).unwrap())
            }).unwrap();
            proptest::prop_assert!(idx < options.len());
            proptest::prop_assert_eq!(&emitted, &options[idx]);
        }
    }

    #[test]
    fn rejects_empty_inputs_and_outside_picks() {
        assert!(TokenTrie::build(&[]).is_err());
        assert!(TokenTrie::build(&[vec![]]).is_err());
        let t = TokenTrie::build(&[vec![5, 6]]).unwrap();
        assert!(walk(&t, 0, |_| Ok(7)).is_err());
    }
}
