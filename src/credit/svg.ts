/** Small hand-written SVG charts for the HTML report (no libraries, no scripts). */
export interface Series {
  name: string;
  color: string;
  points: { x: number; y: number }[];
  dashed?: boolean;
}

const W = 420;
const H = 300;
const M = { left: 52, right: 16, top: 28, bottom: 44 };
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number): string =>
  Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);

interface Axes {
  title: string;
  xLabel: string;
  yLabel: string;
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

function frame(a: Axes, body: string, legend: { name: string; color: string }[]): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const ticks: string[] = [];
  for (let t = 0; t <= 4; t++) {
    const xv = a.xMin + ((a.xMax - a.xMin) * t) / 4;
    const yv = a.yMin + ((a.yMax - a.yMin) * t) / 4;
    const x = M.left + (pw * t) / 4;
    const y = M.top + ph - (ph * t) / 4;
    ticks.push(
      `<line x1="${x}" y1="${M.top + ph}" x2="${x}" y2="${M.top + ph + 4}" stroke="#555"/>`,
      `<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle">${fmt(xv)}</text>`,
      `<line x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#eee"/>`,
      `<text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${fmt(yv)}</text>`,
    );
  }
  const legendItems = legend
    .map(
      (l, i) =>
        `<rect x="${M.left + 8 + i * 120}" y="${M.top - 18}" width="10" height="10" fill="${l.color}"/><text x="${M.left + 22 + i * 120}" y="${M.top - 9}">${esc(l.name)}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="10">
<text x="${W / 2}" y="12" text-anchor="middle" font-size="12" font-weight="bold">${esc(a.title)}</text>
${ticks.join('')}
<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#555"/>
${body}
${legendItems}
<text x="${M.left + pw / 2}" y="${H - 6}" text-anchor="middle">${esc(a.xLabel)}</text>
<text x="12" y="${M.top + ph / 2}" text-anchor="middle" transform="rotate(-90 12 ${M.top + ph / 2})">${esc(a.yLabel)}</text>
</svg>`;
}

function project(a: Axes) {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  return {
    x: (v: number) => M.left + ((v - a.xMin) / (a.xMax - a.xMin || 1)) * pw,
    y: (v: number) => M.top + ph - ((v - a.yMin) / (a.yMax - a.yMin || 1)) * ph,
  };
}

export function lineChart(a: Axes, series: Series[]): string {
  const p = project(a);
  const body = series
    .map((s) => {
      const d = s.points
        .map((pt, i) => `${i === 0 ? 'M' : 'L'}${p.x(pt.x).toFixed(1)},${p.y(pt.y).toFixed(1)}`)
        .join('');
      const dots =
        s.points.length <= 20
          ? s.points
              .map(
                (pt) =>
                  `<circle cx="${p.x(pt.x).toFixed(1)}" cy="${p.y(pt.y).toFixed(1)}" r="2.5" fill="${s.color}"/>`,
              )
              .join('')
          : '';
      return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/>${dots}`;
    })
    .join('\n');
  return frame(a, body, series);
}

/** Bars per category, one bar per series side by side. */
export function barChart(
  a: Omit<Axes, 'xMin' | 'xMax'> & { categories: string[] },
  series: { name: string; color: string; values: number[] }[],
): string {
  const axes: Axes = { ...a, xMin: 0, xMax: a.categories.length };
  const p = project(axes);
  const slot = p.x(1) - p.x(0);
  const barWidth = (slot * 0.8) / series.length;
  const bars = series
    .map((s, k) =>
      s.values
        .map((v, i) => {
          const x = p.x(i) + slot * 0.1 + k * barWidth;
          const y = p.y(v);
          return `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(p.y(a.yMin) - y).toFixed(1)}" fill="${s.color}" opacity="0.8"/>`;
        })
        .join(''),
    )
    .join('\n');
  const labels = a.categories
    .map((c, i) =>
      i % Math.ceil(a.categories.length / 8) === 0
        ? `<text x="${(p.x(i) + slot / 2).toFixed(1)}" y="${H - M.bottom + 28}" text-anchor="middle" fill="#333">${esc(c)}</text>`
        : '',
    )
    .join('');
  // The numeric ticks of a bar chart's x axis mean nothing: hide them under the category labels.
  return frame({ ...axes }, bars + labels, series).replace(
    /<text x="[\d.]+" y="[\d.]+" text-anchor="middle">[\d.]+<\/text>/g,
    '',
  );
}
