/**
 * `work`'s answer, or `late()`'s once `ms` have passed without one; `late` may throw, and the
 * result then fails with its error. The work is not cancelled: it runs on, and what it answers or
 * throws afterwards is dropped (Promise.race has handled it, so a late failure is not unhandled).
 * One deadline for every caller: the ingest's stream call, the reconciliation in Publish, an API
 * handler's answer before the function's timeout.
 */
export async function settleWithin<T>(work: Promise<T>, ms: number, late: () => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(Promise.resolve().then(late)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
