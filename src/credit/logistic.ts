/**
 * Logistic regression by iteratively reweighted least squares (Newton's method) with an L2 penalty
 * on the coefficients (not on the intercept). Minimises
 *   −Σ [y log p + (1 − y) log(1 − p)] + (λ/2) Σ_j β_j²,   p = σ(β₀ + Σ_j β_j x_j).
 * Each step solves (XᵀWX + λI′) Δ = Xᵀ(y − p) − λI′β by Cholesky (W = p(1 − p)).
 */
export interface LogisticFit {
  intercept: number;
  coefficients: number[];
  iterations: number;
  converged: boolean;
}

export interface LogisticOptions {
  l2: number;
  maxIterations: number;
  tolerance: number;
}

export const sigmoid = (z: number): number =>
  z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));

/** `columns[j][i]` is feature j of row i (column-major, as the WoE transform produces). */
export function fitLogistic(
  columns: readonly Float64Array[],
  y: ArrayLike<number>,
  options: Partial<LogisticOptions> = {},
): LogisticFit {
  const { l2 = 1, maxIterations = 50, tolerance = 1e-10 } = options;
  const n = y.length;
  const m = columns.length + 1; // intercept first
  const beta = new Float64Array(m);
  const x = (j: number, i: number): number => (j === 0 ? 1 : columns[j - 1]![i]!);
  const hessian = new Float64Array(m * m);
  const gradient = new Float64Array(m);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    iterations++;
    hessian.fill(0);
    gradient.fill(0);
    for (let i = 0; i < n; i++) {
      let z = beta[0]!;
      for (let j = 1; j < m; j++) z += beta[j]! * columns[j - 1]![i]!;
      const p = sigmoid(z);
      const w = Math.max(p * (1 - p), 1e-12);
      const r = y[i]! - p;
      for (let a = 0; a < m; a++) {
        const xa = x(a, i);
        gradient[a] = gradient[a]! + xa * r;
        for (let b = 0; b <= a; b++) hessian[a * m + b] = hessian[a * m + b]! + w * xa * x(b, i);
      }
    }
    for (let a = 1; a < m; a++) {
      hessian[a * m + a] = hessian[a * m + a]! + l2;
      gradient[a] = gradient[a]! - l2 * beta[a]!;
    }
    const step = solveCholesky(hessian, gradient, m);
    let size = 0;
    for (let a = 0; a < m; a++) {
      beta[a] = beta[a]! + step[a]!;
      size = Math.max(size, Math.abs(step[a]!));
    }
    if (size < tolerance) {
      converged = true;
      break;
    }
  }
  return { intercept: beta[0]!, coefficients: Array.from(beta.subarray(1)), iterations, converged };
}

/** Solves A x = b for symmetric positive definite A (lower triangle used, row-major m×m). */
export function solveCholesky(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const l = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * m + j]!;
      for (let k = 0; k < j; k++) sum -= l[i * m + k]! * l[j * m + k]!;
      if (i === j) l[i * m + i] = Math.sqrt(Math.max(sum, 1e-300));
      else l[i * m + j] = sum / l[j * m + j]!;
    }
  }
  const z = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let sum = b[i]!;
    for (let k = 0; k < i; k++) sum -= l[i * m + k]! * z[k]!;
    z[i] = sum / l[i * m + i]!;
  }
  const out = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let sum = z[i]!;
    for (let k = i + 1; k < m; k++) sum -= l[k * m + i]! * out[k]!;
    out[i] = sum / l[i * m + i]!;
  }
  return out;
}
