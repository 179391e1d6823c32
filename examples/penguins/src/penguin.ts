/**
 * The Palmer penguins record as the pipeline sees it after ingest: snake_case
 * columns, missing measurements as `null`.
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

/** What a caller of the model passes: a penguin without its species. */
export type PenguinFeatures = Omit<Penguin, 'species'>;

/** The column the model predicts. */
export const LABEL = 'species';

/** Source column (vega-datasets) → pipeline column. */
export const SOURCE_COLUMNS: Record<string, keyof Penguin> = {
  Species: 'species',
  Island: 'island',
  'Beak Length (mm)': 'bill_length_mm',
  'Beak Depth (mm)': 'bill_depth_mm',
  'Flipper Length (mm)': 'flipper_length_mm',
  'Body Mass (g)': 'body_mass_g',
  Sex: 'sex',
};
