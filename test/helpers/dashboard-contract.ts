/** The dashboard's API contract lives beside the real server; the tests and the fake use the same types. */
export type * from '../../src/supervisor/dashboard-contract.js';
