/** Every workflow the worker registers. */
export { featureDelivery } from './featureDelivery';
export { serviceRollout } from './serviceRollout';
export { postDeployWatch } from './postDeployWatch';
export { sloAnalysis } from './analysis';
export { productionFreeze } from './productionFreeze';
export { deliveredRollback } from './deliveredRollback';
