/** JUnit XML of a replay, as GitHub Actions, GitLab and Jenkins read it: one testcase per scenario and mode. */
import { classNameOf } from './scenarios.js';
import type { CaseResult } from './run.js';

/** Text safe in XML content and attribute values (and without characters XML 1.0 forbids). */
export function xmlEscape(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

function testcase(r: CaseResult): string {
  const attrs = `classname="${xmlEscape(classNameOf(r.scenario))}" name="${xmlEscape(`${r.scenario.name} [${r.mode}]`)}" time="${seconds(r.ms)}"`;
  if (r.passed) return `    <testcase ${attrs}/>`;
  const message = r.problems[0] ?? 'failed';
  return [
    `    <testcase ${attrs}>`,
    `      <failure message="${xmlEscape(message)}" type="replay">${xmlEscape([`decision: ${r.summary}`, ...r.problems].join('\n'))}</failure>`,
    '    </testcase>',
  ].join('\n');
}

export function junitXml(results: readonly CaseResult[], suiteName = 'crd-replay'): string {
  const suites = new Map<string, CaseResult[]>();
  for (const r of results) {
    const name = classNameOf(r.scenario);
    suites.set(name, [...(suites.get(name) ?? []), r]);
  }
  const failures = results.filter((r) => !r.passed).length;
  const total = results.reduce((t, r) => t + r.ms, 0);
  const body = [...suites].map(([name, cases]) => {
    const failed = cases.filter((r) => !r.passed).length;
    const time = cases.reduce((t, r) => t + r.ms, 0);
    return [
      `  <testsuite name="${xmlEscape(name)}" tests="${cases.length}" failures="${failed}" errors="0" skipped="0" time="${seconds(time)}">`,
      ...cases.map(testcase),
      '  </testsuite>',
    ].join('\n');
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlEscape(suiteName)}" tests="${results.length}" failures="${failures}" errors="0" time="${seconds(total)}">`,
    ...body,
    '</testsuites>',
    '',
  ].join('\n');
}
