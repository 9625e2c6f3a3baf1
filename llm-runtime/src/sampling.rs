//! Token sampling: repetition penalty, temperature, top-k, top-p, seeded randomness, optional allow-list.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::types::SamplingParams;

/// A seeded sampler; one per generation so that a seed reproduces the same tokens.
pub(crate) struct Sampler {
    params: SamplingParams,
    rng: StdRng,
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    pub(crate) fn new(params: &SamplingParams) -> Self {
        Self {
            params: params.clone(),
            rng: StdRng::seed_from_u64(params.seed),
            candidates: Vec::new(),
        }
    }

    /// Applies the repetition penalty of the recent `history` to `logits` in place.
    pub(crate) fn penalize(&self, logits: &mut [f32], history: &[u32]) {
        let p = self.params.repetition_penalty;
        if p == 1.0 {
            return;
        }
        let start = history.len().saturating_sub(self.params.repetition_window);
        let mut seen: Vec<u32> = history[start..].to_vec();
        seen.sort_unstable();
        seen.dedup();
        for id in seen {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = if *l >= 0.0 { *l / p } else { *l * p };
            }
        }
    }

    /// Picks a token. With `allowed`, only those ids can be chosen (an empty list yields `None`).
    pub(crate) fn sample(&mut self, logits: &[f32], allowed: Option<&[u32]>) -> Option<u32> {
        self.candidates.clear();
        match allowed {
            Some(ids) => self.candidates.extend(
                ids.iter()
                    .filter_map(|&i| logits.get(i as usize).map(|&l| (i, l)))
                    .filter(|(_, l)| !l.is_nan()),
            ),
            None => {
                if self.params.temperature == 0.0 {
                    return argmax(logits);
                }
                self.candidates.extend(
                    logits
                        .iter()
                        .enumerate()
                        .filter(|(_, l)| !l.is_nan())
                        .map(|(i, &l)| (i as u32, l)),
                );
            }
        }
        if self.candidates.is_empty() {
            return None;
        }
        if self.params.temperature == 0.0 {
            return self
                .candidates
                .iter()
                .copied()
                .reduce(|a, b| {
                    if b.1 > a.1 || (b.1 == a.1 && b.0 < a.0) {
                        b
                    } else {
                        a
                    }
                })
                .map(|(i, _)| i);
        }
        let t = self.params.temperature;
        self.candidates
            .sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if self.params.top_k > 0 {
            self.candidates.truncate(self.params.top_k);
        }
        let max = self.candidates[0].1;
        let mut total = 0f32;
        for c in self.candidates.iter_mut() {
            c.1 = ((c.1 - max) / t).exp();
            total += c.1;
        }
        if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !total.is_finite() {
            return Some(self.candidates[0].0);
        }
        let mut cut = self.candidates.len();
        if self.params.top_p < 1.0 {
            let mut acc = 0f32;
            for (i, c) in self.candidates.iter().enumerate() {
                acc += c.1 / total;
                if acc >= self.params.top_p {
                    cut = i + 1;
                    break;
                }
            }
        }
        let kept = &self.candidates[..cut];
        let kept_total: f32 = kept.iter().map(|c| c.1).sum();
        let mut r = self.rng.random::<f32>() * kept_total;
        for c in kept {
            r -= c.1;
            if r <= 0.0 {
                return Some(c.0);
            }
        }
        kept.last().map(|c| c.0)
    }
}

fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if l.is_nan() {
            continue;
        }
        match best {
            Some((_, b)) if b >= l => {}
            _ => best = Some((i, l)),
        }
    }
    best.map(|(i, _)| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(t: f32, k: usize, p: f32) -> SamplingParams {
        SamplingParams {
            temperature: t,
            top_k: k,
            top_p: p,
            ..SamplingParams::default()
        }
    }

    #[test]
    fn greedy_picks_max_and_respects_allow_list() {
        let logits = [0.1, 3.0, 2.0, f32::NAN];
        let mut s = Sampler::new(&params(0.0, 0, 1.0));
        assert_eq!(s.sample(&logits, None), Some(1));
        assert_eq!(s.sample(&logits, Some(&[0, 2])), Some(2));
        assert_eq!(s.sample(&logits, Some(&[])), None);
        assert_eq!(s.sample(&logits, Some(&[3])), None);
    }

    #[test]
    fn top_k_one_is_greedy() {
        let logits = [0.5, 0.4, 2.0, 1.9];
        let mut s = Sampler::new(&params(1.5, 1, 1.0));
        for _ in 0..20 {
            assert_eq!(s.sample(&logits, None), Some(2));
        }
    }

    #[test]
    fn top_p_cuts_the_tail() {
        // token 0 has ~0.88 of the mass at t=1; top_p 0.5 keeps only it.
        let logits = [4.0, 2.0, 0.0, -1.0];
        let mut s = Sampler::new(&params(1.0, 0, 0.5));
        for _ in 0..50 {
            assert_eq!(s.sample(&logits, None), Some(0));
        }
    }

    #[test]
    fn same_seed_same_tokens_and_sampling_varies() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let run = |seed| {
            let mut s = Sampler::new(&SamplingParams {
                seed,
                ..params(1.0, 0, 1.0)
            });
            (0..30).map(|_| s.sample(&logits, None)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let distinct: std::collections::BTreeSet<_> = run(7).into_iter().collect();
        assert!(distinct.len() > 3);
    }

    #[test]
    fn repetition_penalty_lowers_seen_tokens() {
        let s = Sampler::new(&SamplingParams {
            repetition_penalty: 2.0,
            ..SamplingParams::default()
        });
        let mut logits = vec![4.0, -2.0, 1.0];
        s.penalize(&mut logits, &[0, 1, 0]);
        assert_eq!(logits, vec![2.0, -4.0, 1.0]);
    }
}
