import type { CellValue } from '@cairn/tabular';

/**
 * One record of the data set as the pipeline sees it after ingest: column
 * name → value, missing values as `null`. Which columns exist, and which are
 * features and the target, is config (conf/base/validate.yaml and
 * conf/base/prepare.yaml), so a new data set needs no TypeScript change.
 */
export type Row = Record<string, CellValue>;

/** What the model learns: a class (classification) or a number (regression). */
export type Task = 'classification' | 'regression';

/**
 * What prepare hands on to train: the task, the target column and the
 * feature columns, as conf/base/prepare.yaml says.
 */
export interface DatasetSpec {
  task: Task;
  target: string;
  numeric: string[];
  categorical: string[];
}
