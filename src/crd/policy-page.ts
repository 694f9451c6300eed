import type { Policy, PolicyNode } from '../rules/policy.js';

/**
 * The policy as a readable HTML page, generated from the criteria tree: every criterion has an anchor named by its
 * id (#IV.B.3), so card links reach the exact criterion without any other server. The full text follows.
 */

const escape = (t: string) =>
  t.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

const COMBINATOR = { all: 'all of the following', any: 'any of the following' } as const;

function nodeHtml(n: PolicyNode): string {
  const combinator = n.kind === 'leaf' ? '' : ` <em>(${COMBINATOR[n.kind]})</em>`;
  const note = n.note ? `<p class="note">How the plan reads this: ${escape(n.note.replace(/\s+/g, ' '))}</p>` : '';
  const question = n.question
    ? `<p class="question">Documentation question: ${escape(n.question.replace(/\s+/g, ' '))}</p>`
    : '';
  const children = n.children.length > 0 ? `<ul>${n.children.map((c) => `<li>${nodeHtml(c)}</li>`).join('')}</ul>` : '';
  return `<div id="${escape(n.id)}" class="criterion"><a href="#${escape(n.id)}" class="id">${escape(n.id)}</a> ${escape(n.text.replace(/\s+/g, ' '))}${combinator}${note}${question}${children}</div>`;
}

export function policyPage(policy: Policy, plan: string): string {
  const list = (nodes: readonly PolicyNode[]) => `<ul>${nodes.map((n) => `<li>${nodeHtml(n)}</li>`).join('')}</ul>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(plan)} – ${escape(policy.title)} medical policy</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#1b1b1b}
.criterion{margin:.4rem 0}.id{font-weight:600;text-decoration:none;margin-right:.3rem}
.note,.question{margin:.2rem 0 .2rem 1rem;font-size:.9rem;color:#444}
:target{background:#fff3c4;outline:2px solid #e0b400}pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}
</style>
</head>
<body>
<h1>${escape(policy.title)} medical policy</h1>
<p>${escape(plan)}. Medical necessity: any of sections I–VIII. Each criterion below carries its id; card links point here.</p>
<h2 id="general">General rules</h2>
${list(policy.general)}
<div id="${escape(policy.priorAuthorization.id)}" class="criterion"><a href="#${escape(policy.priorAuthorization.id)}" class="id">${escape(policy.priorAuthorization.id)}</a> ${escape(policy.priorAuthorization.text)}</div>
<h2 id="criteria">Medical necessity criteria</h2>
<ul>${policy.sections.map((s) => `<li>${nodeHtml(s.node)}<div class="note">Applies when the indication is: ${nodeHtml(s.indication)}</div></li>`).join('')}</ul>
<h2 id="exclusions">Exclusions (investigative)</h2>
${list(policy.exclusions)}
<h2 id="definitions">Definitions</h2>
${list(policy.definitionNodes)}
<h2 id="text">Policy text</h2>
<pre>${escape(policy.text)}</pre>
</body>
</html>
`;
}
