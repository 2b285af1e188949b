/** What `millet` exits with, so scripts can tell "the ledger is wrong" from "could not check". */
export const EXIT_OK = 0;
/** A check failed, or the command could not start (e.g. the data directory is in use). */
export const EXIT_FAILURE = 1;
