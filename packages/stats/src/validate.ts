/**
 * Argument checks shared by every module. This package has no dependency on
 * @cairn/core, so bad input is a plain RangeError/TypeError whose message
 * names the argument; callers that need a CairnError wrap it.
 */

/** @internal */
export function assertNumber(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (Number.isNaN(value)) throw new RangeError(`${name} must not be NaN`);
}

/** @internal */
export function assertFinite(value: unknown, name: string): asserts value is number {
  assertNumber(value, name);
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be finite, got ${value}`);
}

/** @internal */
export function assertPositive(value: unknown, name: string): asserts value is number {
  assertNumber(value, name);
  if (!(value > 0)) throw new RangeError(`${name} must be > 0, got ${value}`);
}

/** @internal */
export function assertNonNegative(value: unknown, name: string): asserts value is number {
  assertFinite(value, name);
  if (value < 0) throw new RangeError(`${name} must be >= 0, got ${value}`);
}

/** @internal */
export function assertCount(value: unknown, name: string): asserts value is number {
  assertNonNegative(value, name);
  if (!Number.isInteger(value)) throw new RangeError(`${name} must be a whole number, got ${value}`);
}

/** @internal A probability-like level strictly inside (0, 1), such as alpha. */
export function assertLevel(value: unknown, name: string): asserts value is number {
  assertNumber(value, name);
  if (!(value > 0 && value < 1))
    throw new RangeError(`${name} must be between 0 and 1 (exclusive), got ${value}`);
}

/** @internal */
export function assertArray(
  value: unknown,
  name: string,
  minLength = 1,
): asserts value is readonly unknown[] {
  if (!Array.isArray(value)) throw new TypeError(`${name} must be an array`);
  if (value.length < minLength) {
    throw new RangeError(`${name} must have at least ${minLength} element${minLength === 1 ? '' : 's'}`);
  }
}
