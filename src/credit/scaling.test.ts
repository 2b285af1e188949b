import { describe, expect, it } from 'vitest';
import { clampScore, defaultScaling, makeScaling, oddsAt, rawScore } from './scaling.ts';

const logitBadAtOdds = (odds: number): number => -Math.log(odds); // odds = good:bad

describe('points to double the odds', () => {
  it('puts the base odds at the base score and doubles the odds every PDO points', () => {
    const s = defaultScaling;
    expect(s.base_score).toBe(600);
    expect(s.base_odds).toBe(20);
    expect(s.pdo).toBe(40);
    expect(rawScore(s, logitBadAtOdds(20))).toBeCloseTo(600, 9);
    expect(rawScore(s, logitBadAtOdds(40))).toBeCloseTo(640, 9);
    expect(rawScore(s, logitBadAtOdds(10))).toBeCloseTo(560, 9);
    expect(oddsAt(s, 600 + s.pdo) / oddsAt(s, 600)).toBeCloseTo(2, 12);
    const other = makeScaling(500, 50, 20);
    expect(rawScore(other, logitBadAtOdds(50))).toBeCloseTo(500, 9);
    expect(rawScore(other, logitBadAtOdds(100))).toBeCloseTo(520, 9);
  });

  it('clamps to 350–950 and rounds', () => {
    expect(clampScore(defaultScaling, 100)).toBe(350);
    expect(clampScore(defaultScaling, 2000)).toBe(950);
    expect(clampScore(defaultScaling, 612.6)).toBe(613);
  });
});
