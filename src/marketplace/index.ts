/** The loan marketplace (DESIGN §2.6): partner lenders and bank cards beside the platform's own loan. */
export {
  createMarketplace,
  marketplaceMigrations,
  type Marketplace,
  type MarketplaceOptions,
  type PartnerPosterior,
} from './marketplace.ts';
export { applicantDirectory } from './applicants.ts';
export {
  scoreBands,
  scoreBandOf,
  applicantFields,
  partnerKinds,
  partnerStatuses,
  type ScoreBand,
  type ApplicantField,
  type ApplicantData,
  type ApplicantDirectory,
  type ApplicantProfile,
  type Eligibility,
  type Pricing,
  type Partner,
  type PartnerKind,
  type PartnerStatus,
  type Promotion,
  type OwnOffer,
  type OwnOfferSource,
} from './types.ts';
export type {
  CreatePartnerCommand,
  CreatedPartner,
  PartnerLimits,
  PartnerPage,
  PartnerEndpointPolicy,
} from './partners.ts';
export type { Application, ApplyCommand, ChooseCommand, Offer, Post, RoutingLine } from './routing.ts';
export { expectedPayout, ineligibility } from './routing.ts';
export { PartnerPinger, type PingReply, type PingTarget, type PingerOptions } from './pinger.ts';
export type { MarketplaceConsent } from './consents.ts';
export { defaultCoDebtLimits, type CoDebtLimits, type CoDebtSnapshot, type CoDebtWindow } from './co-debt.ts';
export type { Settlement, Discrepancy, FunnelDay } from './settlement.ts';
export { reconcile, receivableAccountId, incomeAccountId, MAX_FUNNEL_DAYS } from './settlement.ts';
export {
  rankByExpectedValue,
  posteriorMean,
  sampleBeta,
  seededRandom,
  type Candidate,
  type Exploration,
  type RankingExplanation,
} from './ranking.ts';
export {
  REPLAY_WINDOW_SECONDS,
  signatureHeaders,
  verifySignature,
  callbackTypes,
  type CallbackType,
  type PartnerCallback,
  type PingRequest,
  type PostRequest,
} from './protocol.ts';
export { startPartnerSim, defaultApproval, type PartnerSim, type PartnerSimOptions } from './partner-sim.ts';
export { ownLoanOffers, type OwnLoanProvider } from './own-loan.ts';
