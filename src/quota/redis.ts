/**
 * tenancykit/quota/redis: not built yet; see the open issue for this module.
 */
export {};
