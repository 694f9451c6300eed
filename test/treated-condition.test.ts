import { describe, expect, test } from 'vitest';
import type { Rec } from '../src/fhir/bundle.js';
import { codeList } from '../src/rules/code-lists.js';
import { buildRecordIndex } from '../src/rules/record-index.js';
import { orderSide, tiedEvidence, type EvidenceDeclaration } from '../src/rules/treated-condition.js';

/** The treated condition and the evidence tied to it (rulings R1, R2), on small records with made-up codes. */

const X = 'http://example.org/codes';
const list = (name: string, ...codes: string[]) =>
  codeList(name, {
    description: name,
    source: 'test',
    codes: codes.map((code) => ({ system: X, code })),
    prefixes: [],
  });
const decl: EvidenceDeclaration = {
  cancers: [list('cancer', 'organ-cancer', 'other-cancer')],
  secondaries: [list('secondary', 'organ-metastasis')],
  observations: [list('staging', 'stage')],
  sides: { left: list('left', 'L'), right: list('right', 'R') },
  sections: new Map([
    [
      'S',
      {
        conditions: [list('treats', 'organ-cancer', 'organ-metastasis', 'benign-mass')],
        organ: [list('organ', 'organ-site')],
      },
    ],
  ]),
};
const concept = (code: string) => ({ coding: [{ system: X, code }] });
const condition = (id: string, code: string, extra: Rec = {}): Rec => ({
  resourceType: 'Condition',
  id,
  code: concept(code),
  ...extra,
});
const stage = (id: string, extra: Rec = {}): Rec => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: concept('stage'),
  ...extra,
});
const ref = (r: string) => ({ reference: r });

function tied(record: Rec[], order: Rec = {}) {
  const conditions = record.filter((r) => r['resourceType'] === 'Condition');
  const observations = record.filter((r) => r['resourceType'] === 'Observation');
  const index = buildRecordIndex(record as unknown as fhir4.Resource[]);
  const e = tiedEvidence(
    { index, order: { resourceType: 'ServiceRequest', ...order }, conditions, history: conditions, observations },
    decl,
    ['S'],
  );
  return {
    treated: e.treated.map((r) => r['id']),
    tied: e.tied.map((r) => r['id']),
    setAside: e.setAside.map((r) => r['id']),
  };
}

function secondaries(record: Rec[]) {
  const conditions = record.filter((r) => r['resourceType'] === 'Condition');
  const index = buildRecordIndex(record as unknown as fhir4.Resource[]);
  const order = { resourceType: 'ServiceRequest', reasonReference: [ref('Condition/c')] };
  const e = tiedEvidence({ index, order, conditions, history: conditions, observations: [] }, decl, ['S']);
  return { secondaries: e.secondaries.map((r) => r['id']), unplaced: e.unplaced.map((r) => r['id']) };
}

const linkedTo = (id: string): Rec => ({
  extension: [
    {
      url: 'http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-primary-cancer-condition',
      valueReference: ref(`Condition/${id}`),
    },
  ],
});

describe('rulings R1/R2: evidence tied to the treated condition', () => {
  test('one cancer: untied evidence counts', () => {
    expect(tied([condition('c', 'organ-cancer'), stage('s')])).toEqual({ treated: ['c'], tied: ['s'], setAside: [] });
  });

  test('two cancers: untied evidence is set aside, focused evidence counts, evidence of the other cancer never', () => {
    const record = [
      condition('c', 'organ-cancer'),
      condition('o', 'other-cancer'),
      stage('untied'),
      stage('mine', { focus: [ref('Condition/c')] }),
      stage('theirs', { focus: [ref('Condition/o')] }),
    ];
    expect(tied(record)).toEqual({ treated: ['c'], tied: ['mine'], setAside: ['untied'] });
  });

  test('stage.assessment, hasMember (transitively) and a body site in the organ tie; another body site does not', () => {
    const record = [
      condition('c', 'organ-cancer', { stage: [{ assessment: [ref('Observation/assessed')] }] }),
      condition('o', 'other-cancer'),
      stage('assessed'),
      stage('group', { focus: [ref('Condition/c')], hasMember: [ref('Observation/member')] }),
      stage('member', { hasMember: [ref('Observation/grandchild')] }),
      stage('grandchild'),
      stage('sited', { bodySite: concept('organ-site') }),
      stage('elsewhere', { bodySite: concept('other-site') }),
    ];
    expect(tied(record).tied).toEqual(['assessed', 'group', 'member', 'grandchild', 'sited']);
  });

  test('a tumor BodyStructure ties by its related Condition or its location', () => {
    const record = [
      condition('c', 'organ-cancer'),
      condition('o', 'other-cancer'),
      {
        resourceType: 'BodyStructure',
        id: 'related',
        extension: [{ url: 'http://example.org/related', valueReference: ref('Condition/c') }],
      },
      { resourceType: 'BodyStructure', id: 'located', location: concept('organ-site') },
      {
        resourceType: 'BodyStructure',
        id: 'theirs',
        extension: [{ url: 'http://example.org/related', valueReference: ref('Condition/o') }],
        location: concept('organ-site'),
      },
      stage('a', { focus: [ref('BodyStructure/related')] }),
      stage('b', { focus: [ref('BodyStructure/located')] }),
      stage('c2', { focus: [ref('BodyStructure/theirs')] }),
    ];
    expect(tied(record).tied).toEqual(['a', 'b']);
  });

  test('a secondary belongs to its linked primary, or to the only cancer ever recorded', () => {
    const linked = [
      condition('p', 'other-cancer'),
      condition('m', 'organ-metastasis', { extension: [{ url: 'u', valueReference: ref('Condition/p') }] }),
      condition('q', 'other-cancer'),
      stage('s', { focus: [ref('Condition/p')] }),
    ];
    expect(tied(linked, { reasonReference: [ref('Condition/m')] })).toMatchObject({ treated: ['m', 'p'], tied: ['s'] });
    const only = [
      condition('p', 'other-cancer', { clinicalStatus: concept('resolved') }),
      condition('m', 'organ-metastasis'),
      stage('s', { focus: [ref('Condition/p')] }),
    ];
    expect(tied(only).tied).toEqual(['s']);
  });

  test('a benign treated condition alone counts as the only neoplasm; in-situ and history codes are no cancers', () => {
    expect(tied([condition('b', 'benign-mass'), condition('h', 'history-code'), stage('s')]).tied).toEqual(['s']);
  });

  test('R2: the order names a side by bodySite, orderDetail or a modifier coding; evidence on the other side is left out', () => {
    expect(orderSide({ bodySite: [concept('L')] }, decl)).toBe('left');
    expect(orderSide({ orderDetail: [concept('R')] }, decl)).toBe('right');
    expect(
      orderSide(
        {
          code: {
            coding: [
              { system: X, code: 'L' },
              { system: X, code: 'R' },
            ],
          },
        },
        decl,
      ),
    ).toBeUndefined();
    const record = [
      condition('c', 'organ-cancer'),
      stage('left', {
        bodySite: {
          coding: [
            { system: X, code: 'organ-site' },
            { system: X, code: 'L' },
          ],
        },
      }),
      stage('right', { bodySite: concept('R') }),
      stage('unsided'),
    ];
    expect(tied(record, { bodySite: [concept('L')] }).tied).toEqual(['left', 'unsided']);
  });

  test("ruling R1: a secondary is its primary's; unlinked, the only cancer's, else unplaced", () => {
    expect(secondaries([condition('c', 'organ-cancer'), condition('m', 'organ-metastasis')])).toEqual({
      secondaries: ['m'],
      unplaced: [],
    });
    const two = [condition('c', 'organ-cancer'), condition('o', 'other-cancer')];
    expect(
      secondaries([
        ...two,
        condition('mine', 'organ-metastasis', linkedTo('c')),
        condition('theirs', 'organ-metastasis', linkedTo('o')),
        condition('loose', 'organ-metastasis'),
      ]),
    ).toEqual({ secondaries: ['mine'], unplaced: ['loose'] });
  });
});
