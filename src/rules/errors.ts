/** The first line of whatever was thrown: fhirpath.js sometimes throws values that are not Errors. */
export function errorMessage(e: unknown): string {
  const text =
    e instanceof Error
      ? e.message
      : typeof e === 'string'
        ? e
        : ((JSON.stringify(e) as string | undefined) ?? String(e));
  return (text.split('\n')[0] ?? '').slice(0, 300) || 'error';
}
