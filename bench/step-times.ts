/**
 * Adds the wall time `work` takes, in milliseconds, to `into[step]`: the batch benches' per-step
 * breakdown (a step that runs several times adds up).
 */
export async function timed<T>(
  into: Record<string, number>,
  step: string,
  work: () => Promise<T>,
): Promise<T> {
  const t = performance.now();
  try {
    return await work();
  } finally {
    into[step] = (into[step] ?? 0) + Math.round(performance.now() - t);
  }
}
