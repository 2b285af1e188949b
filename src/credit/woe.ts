/**
 * Weight of evidence and information value of a binned characteristic.
 * WoE_i = ln( (goods_i / goods) / (bads_i / bads) ): positive where the bin is safer than average.
 * IV = Σ (goods_i / goods − bads_i / bads) × WoE_i. An empty side gets 0.5 of a count (smoothing)
 * so a pure bin has a large but finite WoE.
 */
export interface WoeRow {
  goods: number;
  bads: number;
  woe: number;
  iv: number;
}

export interface WoeTable {
  rows: WoeRow[];
  iv: number;
}

export function woeTable(goods: readonly number[], bads: readonly number[]): WoeTable {
  const totalGoods = goods.reduce((a, b) => a + b, 0);
  const totalBads = bads.reduce((a, b) => a + b, 0);
  let iv = 0;
  const rows = goods.map((g, i) => {
    const b = bads[i]!;
    if (g + b === 0) return { goods: 0, bads: 0, woe: 0, iv: 0 };
    const goodShare = (g === 0 ? 0.5 : g) / totalGoods;
    const badShare = (b === 0 ? 0.5 : b) / totalBads;
    const woe = Math.log(goodShare / badShare);
    const part = (g / totalGoods - b / totalBads) * woe;
    iv += part;
    return { goods: g, bads: b, woe, iv: part };
  });
  return { rows, iv };
}
