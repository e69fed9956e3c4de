/**
 * Runs one mutation operation; an operation that does not fit this input (an offset past its end, a structure it
 * lacks) leaves the input as it was. A mutator must never fail a case: only the entry point under test may.
 */
export function safely<T, O>(apply: (input: T, op: O) => T, input: T, op: O): T {
  try {
    return apply(input, op);
  } catch {
    return input;
  }
}
