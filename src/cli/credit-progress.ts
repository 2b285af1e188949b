/**
 * A progress bar on stderr, drawn by hand: in place on a terminal, one line per 10% in a log.
 * stdout is left alone so commands that print JSON stay machine-readable.
 */
export function progressBar(label: string): {
  update: (done: number, total: number, stage: string) => void;
  end: () => void;
} {
  const width = 30;
  const tty = process.stderr.isTTY === true;
  let lastTenth = -1;
  let lastDraw = 0;
  return {
    update(done, total, stage) {
      const share = total > 0 ? Math.min(1, done / total) : 0;
      const now = Date.now();
      if (tty) {
        if (now - lastDraw < 50 && share < 1) return;
        lastDraw = now;
        const filled = Math.round(share * width);
        const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
        process.stderr.write(
          `\r${label} [${bar}] ${String(Math.round(share * 100)).padStart(3)}% ${stage.padEnd(28)}`,
        );
      } else {
        const tenth = Math.floor(share * 10);
        if (tenth === lastTenth) return;
        lastTenth = tenth;
        process.stderr.write(`${label} ${tenth * 10}% ${stage}\n`);
      }
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}
