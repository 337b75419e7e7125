/** Thrown for programmer errors: a broken invariant, never an operating condition. */
export class AssertionFailed extends Error {
  override name = "AssertionFailed";
}

/** assert(cond, "why"): marks a programmer error. Keep conditions simple, never compound. */
export function assert(condition: unknown, why: string): asserts condition {
  if (!condition) throw new AssertionFailed(why);
}
