import fs from 'node:fs';
import { MilletError } from '../core/index.ts';

/** A CSV file as a header and rows of raw strings (RFC 4180: quoted fields, "" escapes, CRLF or LF). */
export interface CsvTable {
  columns: string[];
  rows: string[][];
}

export function parseCsv(text: string): CsvTable {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      record.push(field);
      field = '';
      if (record.length > 1 || record[0] !== '') records.push(record);
      record = [];
    } else field += c;
    i++;
  }
  if (quoted) throw new MilletError('CREDIT_DATA_INVALID', 'CSV ends inside a quoted field');
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  const [header, ...rows] = records;
  if (!header) throw new MilletError('CREDIT_DATA_INVALID', 'CSV is empty');
  const columns = header.map((h) => h.replace(/^\uFEFF/, '').trim());
  rows.forEach((row, index) => {
    if (row.length !== columns.length)
      throw new MilletError(
        'CREDIT_DATA_INVALID',
        `CSV row ${index + 2} has ${row.length} fields, the header has ${columns.length}`,
      );
  });
  return { columns, rows };
}

export function readCsvFile(file: string): CsvTable {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new MilletError('CREDIT_DATA_INVALID', `cannot read ${file}: ${(error as Error).message}`);
  }
  return parseCsv(text);
}

/** The rows of a table as objects keyed by column name (what scoreApplicant takes). */
export function csvRecords(table: CsvTable): Record<string, string>[] {
  return table.rows.map((row) => Object.fromEntries(table.columns.map((c, i) => [c, row[i]!])));
}
