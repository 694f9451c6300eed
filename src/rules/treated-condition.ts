import { isObject, type Rec } from '../fhir/bundle.js';
import { conceptCodings, type Coding } from '../fhir/coding.js';
import type { CodeList } from './code-lists.js';
import { referenceOf, targetOf, type RecordIndex } from './record-index.js';

/**
 * The condition an order treats and the evidence tied to it. Staging, size and status Observations count for a
 * section only when they are about the treated condition: tied to it (focus, the Condition's stage.assessment, a
 * parent Observation's hasMember / derivedFrom, a tumor BodyStructure related to it or in its organ, a bodySite in
 * its organ), or untied when it is the member's only neoplasm. When the order names a side, evidence about a
 * lesion on the other side is another lesion's. Secondary-coded Conditions belong to the primary they are linked to
 * (the same extensions as a treated secondary's), or, unlinked, to the treated condition when it is the member's
 * only cancer; unlinked ones of a member with several cancers are unplaced.
 */

export interface EvidenceDeclaration {
  readonly cancers: readonly CodeList[];
  readonly secondaries: readonly CodeList[];
  readonly observations: readonly CodeList[];
  readonly sides?: { readonly left: CodeList; readonly right: CodeList } | undefined;
  readonly sections: ReadonlyMap<
    string,
    { readonly conditions: readonly CodeList[]; readonly organ: readonly CodeList[] }
  >;
}

export interface TiedEvidence {
  /** The treated Conditions, with the primary each treated secondary belongs to. */
  readonly treated: readonly Rec[];
  /** Evidence-coded Observations that count for the treated condition. */
  readonly tied: readonly Rec[];
  /** Untied evidence-coded Observations left out because the member has another cancer on record. */
  readonly setAside: readonly Rec[];
  /**
   * Current secondary-coded Conditions that belong to the treated condition (ruling R1): linked to it (or to the
   * primary a treated secondary belongs to), or unlinked when it is the member's only cancer.
   */
  readonly secondaries: readonly Rec[];
  /** Current secondary-coded Conditions linked to no cancer while the member has several: neither its nor another's. */
  readonly unplaced: readonly Rec[];
}

export interface RecordView {
  readonly index: RecordIndex;
  readonly order: Rec;
  /** Current trusted Conditions. */
  readonly conditions: readonly Rec[];
  /** Every trusted Condition (history included). */
  readonly history: readonly Rec[];
  /** Trusted Observations. */
  readonly observations: readonly Rec[];
}

type Side = 'left' | 'right';
type Tie = 'treated' | 'other' | 'untied';

const inLists = (codings: readonly Coding[], lists: readonly CodeList[]): boolean =>
  codings.some((c) => lists.some((l) => l.has(c.system, c.code)));

const codeOf = (r: Rec): Coding[] => conceptCodings(r['code']);

/**
 * `inLists(codeOf(r), lists)`, answered from the record index's per-list matches when it indexed `r`'s code (each
 * distinct code of the record is tested once per request instead of every resource's codings per section).
 */
const codedIn = (r: Rec, lists: readonly CodeList[], index: RecordIndex): boolean =>
  index.indexesCodeOf(r) ? lists.some((l) => index.codedIn(l).has(r)) : inLists(codeOf(r), lists);

const concepts = (value: unknown): unknown[] => (Array.isArray(value) ? value : value === undefined ? [] : [value]);

const codingsOf = (value: unknown): Coding[] => concepts(value).flatMap(conceptCodings);

function sideOf(codings: readonly Coding[], decl: EvidenceDeclaration): Side | 'both' | undefined {
  if (!decl.sides) return undefined;
  const left = codings.some((c) => decl.sides!.left.has(c.system, c.code));
  const right = codings.some((c) => decl.sides!.right.has(c.system, c.code));
  return left && right ? 'both' : left ? 'left' : right ? 'right' : undefined;
}

/** The side the order names: its bodySite, orderDetail, or a modifier coding on its code. */
export function orderSide(order: Rec, decl: EvidenceDeclaration): Side | undefined {
  const side = sideOf([...codingsOf(order['bodySite']), ...codingsOf(order['orderDetail']), ...codeOf(order)], decl);
  return side === 'both' ? undefined : side;
}

/** Conditions the section treats: the order's reasons in its lists, else record Conditions coded as the reasons, else current ones in its lists. */
function treatedConditions(view: RecordView, lists: readonly CodeList[]): Rec[] {
  const treats = (c: Rec): boolean => lists.length === 0 || codedIn(c, lists, view.index);
  const trusted = new Set(view.history);
  const current = new Set(view.conditions);
  const referenced = concepts(view.order['reasonReference'])
    .flatMap((ref) => {
      const target = targetOf(ref);
      const found = target ? view.index.byReference(target) : undefined;
      return found && trusted.has(found) ? [found] : [];
    })
    .filter(treats);
  if (referenced.length > 0) return referenced;
  const coded = [
    ...new Set(
      codingsOf(view.order['reasonCode'])
        .filter((c) => lists.length === 0 || lists.some((l) => l.has(c.system, c.code)))
        .flatMap((c) =>
          view.index.withCode(c.system, c.code).filter((r) => r['resourceType'] === 'Condition' && current.has(r)),
        ),
    ),
  ];
  if (coded.length > 0) return coded;
  return lists.length === 0 ? [] : view.conditions.filter(treats);
}

/** Conditions a Condition names in its extensions (mCODE related primary cancer condition and the like). */
const relatedConditions = (r: Rec, index: RecordIndex): Rec[] =>
  concepts(r['extension']).flatMap((e) => {
    const target = isObject(e) ? targetOf(e['valueReference']) : undefined;
    const found = target?.startsWith('Condition/') ? index.byReference(target) : undefined;
    return found ? [found] : [];
  });

const CONFIRMED = new Set(['confirmed', undefined]);

/** Confirmed (or unstated) Conditions coded in a cancer list, among `conditions`. */
function cancersAmong(conditions: readonly Rec[], decl: EvidenceDeclaration, index: RecordIndex): Rec[] {
  return conditions.filter(
    (c) => CONFIRMED.has(conceptCodings(c['verificationStatus'])[0]?.code) && codedIn(c, decl.cancers, index),
  );
}

/**
 * The treated Conditions with the primaries their secondaries belong to: the linked one, else the member's only
 * cancer ever recorded (a resolved primary still owns its metastases).
 */
function family(treated: readonly Rec[], view: RecordView, decl: EvidenceDeclaration): Set<Rec> {
  const members = new Set(treated);
  for (const t of treated) for (const r of relatedConditions(t, view.index)) members.add(r);
  const unlinkedSecondary =
    treated.length > 0 &&
    treated.every((t) => inLists(codeOf(t), decl.secondaries) && relatedConditions(t, view.index).length === 0);
  const primaries = unlinkedSecondary ? cancersAmong(view.history, decl, view.index) : [];
  if (primaries.length === 1 && primaries[0]) members.add(primaries[0]);
  for (const c of view.history) if (relatedConditions(c, view.index).some((r) => members.has(r))) members.add(c);
  return members;
}

interface TieContext {
  readonly view: RecordView;
  readonly decl: EvidenceDeclaration;
  readonly members: ReadonlySet<Rec>;
  readonly organ: readonly CodeList[];
  readonly side: Side | undefined;
  /** Observation reference → the Conditions whose stage.assessment lists it. */
  readonly assessedBy: ReadonlyMap<string, readonly Rec[]>;
  readonly memo: Map<Rec, Tie>;
}

function assessments(view: RecordView): Map<string, Rec[]> {
  const map = new Map<string, Rec[]>();
  for (const c of view.history) {
    for (const stage of concepts(c['stage'])) {
      if (!isObject(stage)) continue;
      for (const target of concepts(stage['assessment']).flatMap((a) => targetOf(a) ?? []))
        map.set(target, [...(map.get(target) ?? []), c]);
    }
  }
  return map;
}

const conditionTie = (c: Rec, ctx: TieContext): Tie => (ctx.members.has(c) ? 'treated' : 'other');

/** Whether evidence on `side` is about a lesion on the other side than the order's. */
const opposite = (side: Side | 'both' | undefined, ordered: Side | undefined): boolean =>
  ordered !== undefined && (side === 'left' || side === 'right') && side !== ordered;

/** A tumor BodyStructure: its related Condition, else its location in the organ or elsewhere. */
function bodyStructureTie(b: Rec, ctx: TieContext): Tie {
  const location = [
    ...codingsOf(b['location']),
    ...codingsOf(b['locationQualifier']),
    ...codingsOf(b['includedStructure']),
  ];
  if (opposite(sideOf(location, ctx.decl), ctx.side)) return 'other';
  const related = relatedConditions(b, ctx.view.index);
  if (related.length > 0) return related.some((c) => ctx.members.has(c)) ? 'treated' : 'other';
  return organTie(codingsOf(b['location']), ctx);
}

function organTie(site: readonly Coding[], ctx: TieContext): Tie {
  const anatomical = site.filter(
    (c) =>
      !ctx.decl.sides || !(ctx.decl.sides.left.has(c.system, c.code) || ctx.decl.sides.right.has(c.system, c.code)),
  );
  if (anatomical.length === 0 || ctx.organ.length === 0) return 'untied';
  return inLists(anatomical, ctx.organ) ? 'treated' : 'other';
}

function strongest(ties: readonly Tie[]): Tie | undefined {
  if (ties.includes('treated')) return 'treated';
  if (ties.includes('other')) return 'other';
  return undefined;
}

function observationTie(o: Rec, ctx: TieContext, path: Set<Rec>): Tie {
  const known = ctx.memo.get(o);
  if (known) return known;
  if (path.has(o)) return 'untied';
  path.add(o);
  const tie = computeTie(o, ctx, path);
  path.delete(o);
  ctx.memo.set(o, tie);
  return tie;
}

function computeTie(o: Rec, ctx: TieContext, path: Set<Rec>): Tie {
  const { index } = ctx.view;
  const ref = referenceOf(o);
  const site = codingsOf(o['bodySite']);
  const focus = index.references(o, 'focus').flatMap((t): Rec[] => {
    const r = index.byReference(t);
    return r ? [r] : [];
  });
  const focusConditions = focus.filter((f) => f['resourceType'] === 'Condition');
  const focusStructures = focus.filter((f) => f['resourceType'] === 'BodyStructure');
  const sides = [
    sideOf(site, ctx.decl),
    ...focusConditions.map((c) => sideOf([...codingsOf(c['bodySite']), ...codeOf(c)], ctx.decl)),
  ];
  if (sides.some((s) => opposite(s, ctx.side))) return 'other';
  const parents = ref ? [...index.referrers(ref, 'hasMember'), ...index.referrers(ref, 'derivedFrom')] : [];
  const byCondition = strongest([
    ...focusConditions.map((c) => conditionTie(c, ctx)),
    ...(ref ? (ctx.assessedBy.get(ref) ?? []) : []).map((c) => conditionTie(c, ctx)),
    ...parents.map((p) => observationTie(p, ctx, path)).filter((t) => t !== 'untied'),
  ]);
  if (byCondition) return byCondition;
  const byStructure = strongest(focusStructures.map((b) => bodyStructureTie(b, ctx)));
  if (byStructure) return byStructure;
  return organTie(site, ctx);
}

/** The treated conditions of the given sections and the evidence-coded Observations that count for them. */
export function tiedEvidence(view: RecordView, decl: EvidenceDeclaration, sectionIds: readonly string[]): TiedEvidence {
  const declared = sectionIds.flatMap((id) => decl.sections.get(id) ?? []);
  const lists = declared.flatMap((d) => d.conditions);
  const organ = declared.flatMap((d) => d.organ);
  const side = orderSide(view.order, decl);
  const sided = (c: Rec): boolean => !opposite(sideOf([...codingsOf(c['bodySite']), ...codeOf(c)], decl), side);
  const treated = treatedConditions(view, lists).filter(sided);
  const cancers = cancersAmong(view.conditions, decl, view.index);
  const members = family(treated, view, decl);
  const alone = cancers.every((c) => members.has(c));
  const ctx: TieContext = { view, decl, members, organ, side, assessedBy: assessments(view), memo: new Map() };
  const tied: Rec[] = [];
  const setAside: Rec[] = [];
  for (const o of view.observations) {
    if (!codedIn(o, decl.observations, view.index)) continue;
    const tie = observationTie(o, ctx, new Set());
    if (tie === 'treated' || (tie === 'untied' && alone)) tied.push(o);
    else if (tie === 'untied') setAside.push(o);
  }
  const secondaries: Rec[] = [];
  const unplaced: Rec[] = [];
  for (const c of view.conditions) {
    if (!codedIn(c, decl.secondaries, view.index)) continue;
    if (members.has(c)) secondaries.push(c);
    else if (relatedConditions(c, view.index).length === 0) (alone ? secondaries : unplaced).push(c);
  }
  return { treated: [...members], tied, setAside, secondaries, unplaced };
}
