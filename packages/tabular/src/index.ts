/**
 * @cairn/tabular — the `table` artifact type (Apache Arrow), table builders,
 * data validation, seeded splits, preprocessing, classification metrics, and
 * SVG charts and HTML pages for reports. No ML library: models live in the
 * steps that use this package.
 */
export * from './artifact';
export * from './csv';
export * from './drift';
export * from './html';
export * from './io';
export * from './metrics';
export * from './preprocess';
export * from './random';
export * from './regression';
export * from './report';
export * from './serving';
export * from './sources';
export * from './split';
export * from './stats';
export * from './svg';
export {
  type CellValue,
  type ColumnField,
  type ColumnType,
  isMissing,
  Table,
  type TableOptions,
  type TableSchema,
  tableFromRows,
} from './table';
export * from './validate';
