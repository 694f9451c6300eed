/** A shallow copy of `value` without `keys` (what `const { key: _, ...rest } = value` gives). */
export function omit<T extends object, K extends keyof T>(value: T, ...keys: readonly K[]): Omit<T, K> {
  const dropped = new Set<PropertyKey>(keys);
  return Object.fromEntries(Object.entries(value).filter(([k]) => !dropped.has(k))) as Omit<T, K>;
}
