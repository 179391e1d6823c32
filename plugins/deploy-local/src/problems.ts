/** The errors every part of the local deployer raises, worded once. */
import { CairnError, ErrorCodes, type ModelVersionRef } from '@cairn/core';

export const invalid = (message: string) => new CairnError(ErrorCodes.DEPLOY_INVALID, message);

export const notFound = (endpoint: string) =>
  new CairnError(
    ErrorCodes.DEPLOYMENT_NOT_FOUND,
    `no endpoint named ${JSON.stringify(endpoint)} is deployed`,
  );

export const notLive = (endpoint: string, why: string) =>
  new CairnError(ErrorCodes.DEPLOY_FAILED, `endpoint ${endpoint} is not live in this server: ${why}`);

export const closedError = () => new CairnError(ErrorCodes.DEPLOY_FAILED, 'the local deployer is closed');

export const describeRef = (ref: ModelVersionRef) => `${ref.model} version ${ref.version}`;

export const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Bad rows are the caller's fault (HTTP 400), not the model's. */
export const isBadInput = (error: unknown) => CairnError.is(error) && error.code === ErrorCodes.DATA_INVALID;
