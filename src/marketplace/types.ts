/** The marketplace's data model (DESIGN §2.6). Money is bigint fen; rates are integer basis points. */

/** Score bands: what a partner sees of the credit score (never the score itself). */
export const scoreBands = ['A', 'B', 'C', 'D', 'E'] as const;
export type ScoreBand = (typeof scoreBands)[number];

/** A ≥ 750, B 700–749, C 650–699, D 600–649, E below 600 (the score runs 350–950). */
export function scoreBandOf(score: number): ScoreBand {
  if (score >= 750) return 'A';
  if (score >= 700) return 'B';
  if (score >= 650) return 'C';
  if (score >= 600) return 'D';
  return 'E';
}

export const partnerKinds = ['lender', 'card_issuer'] as const;
export type PartnerKind = (typeof partnerKinds)[number];
export const partnerStatuses = ['active', 'paused', 'terminated'] as const;
export type PartnerStatus = (typeof partnerStatuses)[number];
export type Product = 'loan' | 'card';
export const accountClassesAccepted = ['I', 'II', 'III'] as const;
export type IdentityClass = (typeof accountClassesAccepted)[number];

/**
 * The personal fields an application can carry. Only those the user consented to share with the
 * chosen partner are posted; the marketplace never stores their values.
 */
export const applicantFields = [
  'real_name',
  'phone',
  'resident_id',
  'monthly_income',
  'employer',
  'address',
] as const;
export type ApplicantField = (typeof applicantFields)[number];
export type ApplicantData = Partial<Record<ApplicantField, string>>;

export interface Eligibility {
  scoreBands: ScoreBand[];
  minAge: number;
  maxAge: number;
  /** Region code prefixes (GB/T 2260: "11" Beijing, "3101" Shanghai city); empty = everywhere. */
  regions: string[];
  minAmount: bigint;
  maxAmount: bigint;
  minTermMonths: number;
  maxTermMonths: number;
  /** Identity (payment account) classes accepted. */
  identityClasses: IdentityClass[];
}

export interface Pricing {
  /** Cost per acquisition: fen per credit line granted (approved). */
  cpaFen: bigint;
  /** Cost per sale: basis points of the amount disbursed. */
  cpsBp: number;
  /** Basis points of the interest the partner reports repaid. */
  revenueShareBp: number;
}

export interface Partner {
  id: string;
  name: string;
  kind: PartnerKind;
  endpointUrl: string;
  eligibility: Eligibility;
  /** Fields the partner needs in a post; the user must consent to at least these. */
  requiredFields: ApplicantField[];
  pricing: Pricing;
  /** Posts per business day; null = no cap. */
  dailyCap: number | null;
  /** Fees per calendar month (business time); null = no budget. */
  monthlyBudgetFen: bigint | null;
  /** The operator's fixed order (lower first), used by the fixed-priority baseline. */
  priority: number;
  status: PartnerStatus;
  createdAt: Date;
  updatedAt: Date;
}

export interface Promotion {
  kind: 'interest_free_days';
  days: number;
}

/** What the applicant looks like to the marketplace (from identity and the credit score). */
export interface ApplicantProfile {
  verified: boolean;
  ageYears: number | null;
  identityClass: IdentityClass | null;
  /** The latest credit score, or null when the user has none. */
  score: number | null;
}

/** Identity and the score service, as the marketplace needs them; the composition root fills it. */
export interface ApplicantDirectory {
  profile(userId: string): Promise<ApplicantProfile>;
}

/** An indicative offer from the platform's own loan product. */
export interface OwnOffer {
  amount: bigint;
  aprBp: number;
  termMonths: number;
  promotions: Promotion[];
  /** What a granted loan is worth to the platform, fen: the payout the ranking multiplies. */
  valueFen: bigint;
}

/**
 * The platform's own loan, competing under the same rules (`ownLoanOffers` over lending, wired in
 * src/app.ts). `quote` answers the same ping a partner gets (no personal data); `apply` is the
 * post after the user chose it and consented. The outcome is reported back through
 * `Marketplace.recordOwnOutcome`, which updates the same posterior the partners' callbacks do.
 */
export interface OwnOfferSource {
  quote(request: {
    userId: string;
    scoreBand: ScoreBand;
    amount: bigint;
    termMonths: number;
  }): Promise<OwnOffer | null>;
  apply(request: {
    userId: string;
    applicationId: string;
    amount: bigint;
    termMonths: number;
    applicant: ApplicantData;
  }): Promise<{ decision: 'approved' | 'declined' | 'pending'; reference: string }>;
}
