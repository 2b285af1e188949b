import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isMilletError } from '../core/index.ts';
import { defaultArtifactPath, readArtifact } from './artifact.ts';
import { modelNames, modelSpecs, type Frame, type ModelSpec } from './datasets.ts';
import { assertNoProtectedFields, PROTECTED_FIELDS } from './protected.ts';
import { defaultScaling } from './scaling.ts';
import { trainScorecard } from './scorecard.ts';
import { crossValidate, trainSettings } from './train.ts';

describe('protected fields', () => {
  it('are refused as model inputs with CREDIT_PROTECTED_FIELD', () => {
    expect(() => assertNoProtectedFields(['LIMIT_BAL', 'PAY_0'])).not.toThrow();
    for (const field of PROTECTED_FIELDS) {
      try {
        assertNoProtectedFields(['LIMIT_BAL', field]);
        expect.unreachable();
      } catch (error) {
        expect(isMilletError(error) && error.code).toBe('CREDIT_PROTECTED_FIELD');
      }
    }
    expect(() => assertNoProtectedFields(['sex'])).toThrow(/protected/);
  });

  it('make the learners throw before any training', () => {
    const spec: ModelSpec = {
      ...modelSpecs.behaviour,
      features: [
        ...modelSpecs.behaviour.features.slice(0, 2),
        { ...modelSpecs.behaviour.features[0]!, name: 'AGE' },
      ],
    };
    const frame: Frame = {
      n: 4,
      y: Uint8Array.of(0, 1, 0, 1),
      numeric: new Map(),
      categorical: new Map(),
      audit: new Map(),
    };
    const rows = Int32Array.of(0, 1, 2, 3);
    expect(() => trainScorecard(spec, frame, rows, defaultScaling)).toThrow(/AGE/);
    expect(() => crossValidate(spec, frame, trainSettings.behaviour, 'gbt')).toThrow(/AGE/);
  });

  it('are in no committed artifact', () => {
    for (const name of modelNames) {
      const file = defaultArtifactPath(name);
      const artifact = readArtifact(file); // validateArtifact also refuses protected inputs
      expect(artifact.inputs.length).toBeGreaterThan(5);
      const { excluded_protected_fields: _listed, ...rest } = artifact;
      const text = JSON.stringify(rest);
      for (const field of PROTECTED_FIELDS) expect(text).not.toContain(`"${field}"`);
      expect(artifact.inputs.map((i) => i.name)).not.toContain('AGE');
      expect(fs.statSync(file).size).toBeLessThan(2_000_000);
    }
  });
});
