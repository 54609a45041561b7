import { distance } from 'fastest-levenshtein';

/**
 * The closest candidate to a misspelt name, or undefined when nothing is close. Besides the whole
 * name, each `_`-separated part of a candidate is compared, so `jbos` finds `parallel_jobs`.
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const parts = [c, ...c.split('_')].filter((p) => p !== '');
    const d = Math.min(...parts.map((p) => distance(w, p.toLowerCase())));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(2, Math.floor(w.length / 3));
  return bestDistance <= limit ? best : undefined;
}
