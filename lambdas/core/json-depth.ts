/**
 * How deeply a JSON value nests. `JSON.parse` reads any depth, but every layer after the door
 * walks events recursively (`JSON.stringify` into the stream and the archive, the SDKs'
 * serializers, Trino's JSON functions) and overflows its stack somewhere past a few thousand
 * levels: an accepted event nested that deep would crash the handler that answers or stall a
 * shard. No event needs more than a few levels, so the door refuses deeper ones.
 */

/** Most levels of objects and arrays an event may nest, the event object itself included. */
export const MAX_EVENT_DEPTH = 32;

/** Does the value nest more than `max` levels of objects and arrays? Iterative: any depth is safe. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  // Most events are one flat object: answered without building the walk's stack.
  if (max >= 1 && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    let flat = true;
    for (const key in value) {
      const child = (value as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) {
        flat = false;
        break;
      }
    }
    if (flat) return false;
  }
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current))
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}
