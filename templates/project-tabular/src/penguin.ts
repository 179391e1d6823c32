/**
 * One record of the data set as the pipeline sees it after ingest: missing
 * values as `null`. Rename this file and the columns for your own data.
 */
export interface Penguin {
  species: string;
  island: string | null;
  bill_length_mm: number | null;
  bill_depth_mm: number | null;
  flipper_length_mm: number | null;
  body_mass_g: number | null;
  sex: string | null;
}

/** The column the model predicts. */
export const LABEL = 'species';
