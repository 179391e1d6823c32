import { canaryReviewStep } from '@cairn/delivery';

/**
 * Judges the endpoint's canary by its A/B experiment (the deploy step made
 * it; `cairn serve` records which units each version answered and takes
 * their outcomes): a better canary becomes the sole version, a worse one
 * leaves traffic and production in the registry goes back to the version
 * before. Not enough evidence yet: nothing changes until the next run.
 */
export const canaryReview = canaryReviewStep();
