-- Where a coupon was shown to a user: the denominator of the claim rate (领取率 = 领取数/曝光数).
CREATE TABLE coupon_exposure (
    id           bigserial PRIMARY KEY,
    template_id  text NOT NULL REFERENCES coupon_template (id),
    user_id      text NOT NULL,
    shown_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupon_exposure_by_template ON coupon_exposure (template_id);
CREATE INDEX user_coupon_used_by_template ON user_coupon (template_id) WHERE status = 'USED';
