-- smoothed_rate(successes, trials, prior_rate, strength): a rate shrunk
-- toward prior_rate by a beta prior worth `strength` trials, capped at 1
-- (view-through conversions can outnumber clicks).
-- The marts pass $prior_strength as `strength`: CTRs are clicks over
-- impressions, CVRs conversions over clicks.

create or replace temp macro smoothed_rate(successes, trials, prior_rate, strength) as
    least((successes + strength * prior_rate) / (trials + strength), 1.0)
