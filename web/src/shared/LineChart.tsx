import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';
import { useEffect, useRef } from 'react';

Chart.register(
  BarController,
  BarElement,
  LineController,
  LineElement,
  PointElement,
  LinearScale,
  CategoryScale,
  Filler,
  Legend,
  Tooltip,
);

/**
 * A line chart (Chart.js on a canvas). Only the pages that draw charts import this module, and
 * they are loaded lazily, so Chart.js is not in the wallet's first page. The canvas carries a text
 * alternative; pages also show the numbers in a table.
 */
export function LineChart(props: ChartProps) {
  return <ChartCanvas {...props} type="line" />;
}

/** A bar chart, same props as LineChart. */
export function BarChart(props: ChartProps) {
  return <ChartCanvas {...props} type="bar" />;
}

interface ChartProps {
  labels: string[];
  values: Array<number | null>;
  label: string;
  /** The text alternative read by screen readers. */
  description: string;
  unit?: string;
  color?: string;
  height?: number;
}

function ChartCanvas(props: ChartProps & { type: 'line' | 'bar' }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const { labels, values, label, unit, type, color = '#0f766e' } = props;
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, {
      type,
      data: {
        labels,
        datasets: [
          {
            label,
            data: values,
            borderColor: color,
            backgroundColor: type === 'bar' ? color : `${color}22`,
            fill: type === 'line',
            tension: 0.3,
            pointRadius: 3,
            spanGaps: true,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => `${item.formattedValue}${unit ?? ''}` } },
        },
        scales: { y: { ticks: { callback: (v) => `${v}${unit ?? ''}` } } },
      },
    });
    return () => chart.destroy();
  }, [labels, values, label, unit, type, color]);
  return (
    <div className="chart" style={{ height: props.height ?? 200 }}>
      <canvas ref={canvas} role="img" aria-label={props.description} />
    </div>
  );
}

/** Several lines on one chart (one per series, e.g. a vintage per origination month), with a legend. */
export function MultiLineChart(props: {
  labels: string[];
  series: Array<{ label: string; values: Array<number | null> }>;
  description: string;
  unit?: string;
  height?: number;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const { labels, series, unit } = props;
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, {
      type: 'line',
      data: {
        labels,
        datasets: series.map((s, i) => ({
          label: s.label,
          data: s.values,
          borderColor: palette[i % palette.length],
          backgroundColor: palette[i % palette.length],
          tension: 0.3,
          pointRadius: 3,
          spanGaps: true,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: series.length > 1, position: 'bottom' },
          tooltip: {
            callbacks: { label: (item) => `${item.dataset.label}: ${item.formattedValue}${unit ?? ''}` },
          },
        },
        scales: { y: { beginAtZero: true, ticks: { callback: (v) => `${v}${unit ?? ''}` } } },
      },
    });
    return () => chart.destroy();
  }, [labels, series, unit]);
  return (
    <div className="chart" style={{ height: props.height ?? 220 }}>
      <canvas ref={canvas} role="img" aria-label={props.description} />
    </div>
  );
}

const palette = ['#0f766e', '#b45309', '#1d4ed8', '#be123c', '#7c3aed', '#4d7c0f'];
