/**
 * Suites that need a service of the machine (PostgreSQL, Chromium) skip on a developer's machine without it, but
 * CI lists them in CDS_TEST_REQUIRE (comma-separated: postgres, chromium): a missing one then fails the run
 * instead of passing it with the suite skipped.
 */
export function available(what: 'postgres' | 'chromium', present: boolean, howToGetIt: string): boolean {
  const required = (process.env['CDS_TEST_REQUIRE'] ?? '').split(',').map((s) => s.trim());
  if (!present && required.includes(what))
    throw new Error(`CDS_TEST_REQUIRE lists ${what}, which this machine lacks: ${howToGetIt}`);
  if (!present) console.warn(`${what} suites skipped: ${howToGetIt}`);
  return present;
}
