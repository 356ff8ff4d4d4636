/** Markdown output for load scripts: what ran, on what, and a table. */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

/** A markdown table; `align` per column: 'l' or 'r' (numbers). */
export function markdownTable(header: string[], rows: string[][], align: Array<'l' | 'r'> = []): string {
  const sep = header.map((_, i) => (align[i] === 'r' ? '---:' : '---'));
  return [header, sep, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** The CPU model from /proc/cpuinfo, or os.cpus() where that file does not exist. */
export function cpuModel(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (name: string): string | undefined => {
      const line = info.split('\n').find((l) => l.startsWith(name));
      return line?.slice(line.indexOf(':') + 1).trim();
    };
    const model = field('model name');
    // Virtual machines often report a bare family name ("AMD EPYC"): add what tells generations apart.
    if (model) return `${model} (family ${field('cpu family') ?? '?'}, model ${field('model\t') ?? '?'}, ${field('cpu MHz') ?? '?'} MHz)`;
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** The header every load script prints: exact command, Node version, CPU, cores. */
export function environmentBanner(): string {
  const command = ['npx', 'tsx', ...process.argv.slice(1).map((a, i) => (i === 0 ? relativeScript(a) : a))].join(' ');
  return [
    `Command: \`${command}\``,
    `Node ${process.version}, ${cpuModel()}, ${os.cpus().length} logical CPUs, ${os.platform()} ${os.release()}`,
  ].join('\n');
}

function relativeScript(file: string): string {
  const cwd = process.cwd() + '/';
  return file.startsWith(cwd) ? file.slice(cwd.length) : file;
}

/** Formats numbers for tables: integers with thousands separators, ms with one or two decimals. */
export const fmt = {
  int: (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'),
  ms: (n: number): string => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : 'n/a'),
  ratio: (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a'),
};
