//! git's own estimate of how similar two versions of a renamed file are, so the `similarity
//! index` line matches `git diff` (libgit2 estimates differently). Following git's
//! diffcore-delta: the content is cut into spans that end at a newline or after 64 bytes, each
//! span is hashed, and the bytes of the new version that also occur in the old one (per hash, the
//! smaller count) are compared with the larger size.

use std::collections::HashMap;

const MAX_SCORE: u64 = 60_000;
const HASHBASE: u32 = 107_927;

/// The percentage git prints as `similarity index N%`.
pub fn similarity_index(old: &[u8], new: &[u8]) -> u32 {
    let max_size = old.len().max(new.len()) as u64;
    if max_size == 0 {
        return 0;
    }
    let (old_spans, new_spans) = (spans(old), spans(new));
    let copied: u64 = old_spans
        .iter()
        .map(|(hash, count)| u64::from((*count).min(new_spans.get(hash).copied().unwrap_or(0))))
        .sum();
    let score = copied * MAX_SCORE / max_size;
    u32::try_from(score * 100 / MAX_SCORE).unwrap_or(100)
}

/// Bytes per span hash. Text drops the `\r` of `\r\n`, as git does; git calls content with a NUL
/// in its first 8000 bytes binary.
fn spans(data: &[u8]) -> HashMap<u32, u32> {
    let is_text = !data.iter().take(8000).any(|&b| b == 0);
    let mut counts: HashMap<u32, u32> = HashMap::new();
    let (mut accum1, mut accum2, mut n) = (0u32, 0u32, 0u32);
    let mut add = |accum1: u32, accum2: u32, n: u32| {
        let hash = accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE;
        *counts.entry(hash).or_default() += n;
    };
    for (i, &c) in data.iter().enumerate() {
        if is_text && c == b'\r' && data.get(i + 1) == Some(&b'\n') {
            continue;
        }
        let old1 = accum1;
        accum1 = (accum1 << 7) ^ (accum2 >> 25);
        accum2 = (accum2 << 7) ^ (old1 >> 25);
        accum1 = accum1.wrapping_add(u32::from(c));
        n += 1;
        if n < 64 && c != b'\n' {
            continue;
        }
        add(accum1, accum2, n);
        (accum1, accum2, n) = (0, 0, 0);
    }
    if n > 0 {
        add(accum1, accum2, n);
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(lines: usize, changed: &[usize]) -> String {
        (1..=lines)
            .map(|i| {
                if changed.contains(&i) {
                    format!("line {i} changed\n")
                } else {
                    format!("line {i}\n")
                }
            })
            .collect()
    }

    #[test]
    fn matches_the_percentages_git_prints() {
        // Values printed by `git diff -M` for the same pairs.
        assert_eq!(
            similarity_index(numbered(12, &[]).as_bytes(), numbered(12, &[12]).as_bytes()),
            83
        );
        assert_eq!(
            similarity_index(
                numbered(40, &[]).as_bytes(),
                numbered(40, &[3, 20]).as_bytes()
            ),
            90
        );
        assert_eq!(similarity_index(b"same\n", b"same\n"), 100);
        assert_eq!(similarity_index(b"", b""), 0);
    }

    #[test]
    fn crlf_counts_like_lf_in_text() {
        assert_eq!(similarity_index(b"a\r\nb\r\n", b"a\nb\n"), 66);
    }
}
