import Testing
import Wire

@testable import Domain

/// 2026-11-11T00:00:00+08:00 and a week later.
let doubleEleven: Int64 = 1_794_326_400_000
let oneWeek: Int64 = 7 * 86_400_000

/// 满200减30, platform-wide, 1000 in stock, one per user.
func cash200Minus30() -> TemplateSpec {
    TemplateSpec(
        name: "满200减30", type: .cash, thresholdCents: 20_000, discountCents: 3_000,
        startMilliseconds: doubleEleven, endMilliseconds: doubleEleven + oneWeek, totalStock: 1_000, perUserLimit: 1)
}

func with(_ spec: TemplateSpec, _ change: (inout TemplateSpec) -> Void) -> TemplateSpec {
    var copy = spec
    change(&copy)
    return copy
}

/// One template that must be refused, and the field its message must name.
struct InvalidTemplate: Sendable, CustomTestStringConvertible {
    var label: String
    var field: String
    var spec: TemplateSpec
    var testDescription: String { label }
}

@Suite struct TemplateRulesTests {
    @Test func acceptsCash200Minus30() throws {
        try TemplateRules.validate(cash200Minus30())
    }

    @Test func acceptsMeituanTiersOnACashTemplate() throws {
        let spec = with(cash200Minus30()) {
            $0.name = "外卖红包"
            $0.thresholdCents = 2_500
            $0.discountCents = 500
            $0.tiers = [
                Tier(segment: "HIGH_FREQ", thresholdCents: 3_000, discountCents: 500),
                Tier(segment: "LOW_FREQ", thresholdCents: 2_000, discountCents: 800),
            ]
        }
        try TemplateRules.validate(spec)
    }

    @Test func acceptsFreeWithACap() throws {
        let spec = with(cash200Minus30()) {
            $0.name = "免单"
            $0.type = .free
            $0.thresholdCents = 0
            $0.discountCents = 0
            $0.maxDiscountCents = 5_000
            $0.budgetCents = 1_000_000
        }
        try TemplateRules.validate(spec)
    }

    @Test func acceptsExchangeOnePointForTenYuan() throws {
        let spec = with(cash200Minus30()) {
            $0.name = "1积分兑换10元"
            $0.type = .exchange
            $0.thresholdCents = 0
            $0.discountCents = 1_000
            $0.pointsCost = 1
        }
        try TemplateRules.validate(spec)
    }

    @Test func acceptsAnEightyPercentDiscountWithCapAndBudget() throws {
        let spec = with(cash200Minus30()) {
            $0.name = "8折"
            $0.type = .discount
            $0.discountCents = 0
            $0.rateBasisPoints = 8_000
            $0.maxDiscountCents = 5_000
            $0.budgetCents = 10_000_000
        }
        try TemplateRules.validate(spec)
    }

    @Test func acceptsScopedTemplatesAndChannels() throws {
        try TemplateRules.validate(
            with(cash200Minus30()) {
                $0.level = .shop
                $0.shopId = "shop-42"
                $0.channels = ["app", "mini-program"]
                $0.segments = ["NEW", "VIP"]
                $0.validHours = 72
                $0.dailyLimit = 100
                $0.budgetCents = 3_000_000
                $0.perUserLimit = 3
            })
        try TemplateRules.validate(
            with(cash200Minus30()) {
                $0.level = .category
                $0.categories = ["fresh", "snacks"]
            })
        // A no-threshold cash coupon (立减) is fine.
        try TemplateRules.validate(with(cash200Minus30()) { $0.thresholdCents = 0 })
        // The discount may equal its threshold.
        try TemplateRules.validate(with(cash200Minus30()) { $0.discountCents = 20_000 })
        // 101 characters counted as characters, not bytes: 100 Chinese characters is fine.
        try TemplateRules.validate(with(cash200Minus30()) { $0.name = String(repeating: "券", count: 100) })
    }

    static let invalid: [InvalidTemplate] = {
        let base = cash200Minus30()
        let discount = with(base) {
            $0.type = .discount
            $0.discountCents = 0
            $0.rateBasisPoints = 8_000
            $0.maxDiscountCents = 5_000
        }
        let exchange = with(base) {
            $0.type = .exchange
            $0.thresholdCents = 0
            $0.discountCents = 1_000
            $0.pointsCost = 1
        }
        return [
            InvalidTemplate(label: "empty name", field: "name", spec: with(base) { $0.name = "" }),
            InvalidTemplate(label: "blank name", field: "name", spec: with(base) { $0.name = "   " }),
            InvalidTemplate(label: "101-character name", field: "name", spec: with(base) { $0.name = String(repeating: "a", count: 101) }),
            InvalidTemplate(label: "control character in name", field: "name", spec: with(base) { $0.name = "满200\u{7}减30" }),
            InvalidTemplate(label: "DISCOUNT without rate", field: "rate", spec: with(discount) { $0.rateBasisPoints = nil }),
            InvalidTemplate(label: "DISCOUNT rate 10000", field: "rate", spec: with(discount) { $0.rateBasisPoints = 10_000 }),
            InvalidTemplate(label: "DISCOUNT rate 0", field: "rate", spec: with(discount) { $0.rateBasisPoints = 0 }),
            InvalidTemplate(label: "DISCOUNT with an amount", field: "discount", spec: with(discount) { $0.discountCents = 500 }),
            InvalidTemplate(label: "rate on CASH", field: "rate", spec: with(base) { $0.rateBasisPoints = 8_000 }),
            InvalidTemplate(label: "CASH discount above threshold", field: "discount", spec: with(base) { $0.discountCents = 30_000 }),
            InvalidTemplate(label: "CASH discount 0", field: "discount", spec: with(base) { $0.discountCents = 0 }),
            InvalidTemplate(label: "CASH negative discount", field: "discount", spec: with(base) { $0.discountCents = -100 }),
            InvalidTemplate(label: "negative threshold", field: "threshold", spec: with(base) { $0.thresholdCents = -1 }),
            InvalidTemplate(label: "maxDiscount on CASH", field: "maxDiscount", spec: with(base) { $0.maxDiscountCents = 1_000 }),
            InvalidTemplate(label: "end before start", field: "endTime", spec: with(base) { $0.endMilliseconds = $0.startMilliseconds - 1 }),
            InvalidTemplate(label: "end equals start", field: "endTime", spec: with(base) { $0.endMilliseconds = $0.startMilliseconds }),
            InvalidTemplate(label: "validHours 0", field: "validHours", spec: with(base) { $0.validHours = 0 }),
            InvalidTemplate(label: "negative totalStock", field: "totalStock", spec: with(base) { $0.totalStock = -1 }),
            InvalidTemplate(label: "perUserLimit 0", field: "perUserLimit", spec: with(base) { $0.perUserLimit = 0 }),
            InvalidTemplate(label: "dailyLimit 0", field: "dailyLimit", spec: with(base) { $0.dailyLimit = 0 }),
            InvalidTemplate(label: "budget 0", field: "budget", spec: with(base) { $0.budgetCents = 0 }),
            InvalidTemplate(label: "negative budget", field: "budget", spec: with(base) { $0.budgetCents = -1 }),
            InvalidTemplate(label: "maxDiscount 0 on DISCOUNT", field: "maxDiscount", spec: with(discount) { $0.maxDiscountCents = 0 }),
            InvalidTemplate(label: "SHOP without shopId", field: "shopId", spec: with(base) { $0.level = .shop }),
            InvalidTemplate(
                label: "SHOP with blank shopId", field: "shopId",
                spec: with(base) {
                    $0.level = .shop; $0.shopId = " "
                }),
            InvalidTemplate(label: "CATEGORY without categories", field: "categories", spec: with(base) { $0.level = .category }),
            InvalidTemplate(label: "shopId on PLATFORM", field: "shopId", spec: with(base) { $0.shopId = "shop-42" }),
            InvalidTemplate(
                label: "shopId on CATEGORY", field: "shopId",
                spec: with(base) {
                    $0.level = .category; $0.categories = ["fresh"]; $0.shopId = "shop-42"
                }),
            InvalidTemplate(
                label: "duplicate categories", field: "categories",
                spec: with(base) {
                    $0.level = .category; $0.categories = ["fresh", "fresh"]
                }),
            InvalidTemplate(label: "duplicate channels", field: "channels", spec: with(base) { $0.channels = ["app", "web", "app"] }),
            InvalidTemplate(label: "empty channel", field: "channels", spec: with(base) { $0.channels = [""] }),
            InvalidTemplate(label: "channel with NUL", field: "channels", spec: with(base) { $0.channels = ["ap\u{0}p"] }),
            InvalidTemplate(label: "channel with BEL", field: "channels", spec: with(base) { $0.channels = ["app\u{7}x"] }),
            InvalidTemplate(label: "channel with DEL", field: "channels", spec: with(base) { $0.channels = ["app\u{7F}x"] }),
            InvalidTemplate(label: "channel with ESC", field: "channels", spec: with(base) { $0.channels = ["app\u{1B}[31mx"] }),
            InvalidTemplate(label: "channel with C1 control NEL", field: "channels", spec: with(base) { $0.channels = ["app\u{85}x"] }),
            InvalidTemplate(label: "channel with C1 control CSI", field: "channels", spec: with(base) { $0.channels = ["app\u{9B}31mx"] }),
            InvalidTemplate(label: "channel with leading space", field: "channels", spec: with(base) { $0.channels = [" app"] }),
            InvalidTemplate(label: "channel with trailing space", field: "channels", spec: with(base) { $0.channels = ["app "] }),
            InvalidTemplate(label: "channel with trailing tab", field: "channels", spec: with(base) { $0.channels = ["app\t"] }),
            InvalidTemplate(label: "65-character channel", field: "channels", spec: with(base) { $0.channels = [String(repeating: "c", count: 65)] }),
            InvalidTemplate(label: "duplicate segments", field: "segments", spec: with(base) { $0.segments = ["VIP", "VIP"] }),
            InvalidTemplate(label: "EXCHANGE with pointsCost 0", field: "pointsCost", spec: with(exchange) { $0.pointsCost = 0 }),
            InvalidTemplate(label: "EXCHANGE with a threshold", field: "threshold", spec: with(exchange) { $0.thresholdCents = 5_000 }),
            InvalidTemplate(label: "negative pointsCost", field: "pointsCost", spec: with(exchange) { $0.pointsCost = -1 }),
            InvalidTemplate(label: "pointsCost on CASH", field: "pointsCost", spec: with(base) { $0.pointsCost = 100 }),
            InvalidTemplate(label: "pointsCost on DISCOUNT", field: "pointsCost", spec: with(discount) { $0.pointsCost = 100 }),
            InvalidTemplate(
                label: "DISCOUNT with a budget but no maxDiscount", field: "maxDiscount",
                spec: with(discount) {
                    $0.maxDiscountCents = nil; $0.budgetCents = 1_000_000
                }),
            InvalidTemplate(
                label: "FREE with a budget but no maxDiscount", field: "maxDiscount",
                spec: with(base) {
                    $0.type = .free; $0.thresholdCents = 0; $0.discountCents = 0; $0.budgetCents = 1_000_000
                }),
            InvalidTemplate(
                label: "a tier on a DISCOUNT coupon", field: "tiers",
                spec: with(discount) { $0.tiers = [Tier(segment: "HIGH_FREQ", thresholdCents: 3_000, discountCents: 500)] }),
            InvalidTemplate(
                label: "duplicate tier segments", field: "tiers[1].segment",
                spec: with(base) {
                    $0.tiers = [
                        Tier(segment: "HIGH_FREQ", thresholdCents: 3_000, discountCents: 500),
                        Tier(segment: "HIGH_FREQ", thresholdCents: 2_000, discountCents: 800),
                    ]
                }),
            InvalidTemplate(
                label: "tier discount above its threshold", field: "tiers[0].discount",
                spec: with(base) { $0.tiers = [Tier(segment: "LOW_FREQ", thresholdCents: 2_000, discountCents: 2_500)] }),
            InvalidTemplate(
                label: "tier discount 0", field: "tiers[0].discount",
                spec: with(base) { $0.tiers = [Tier(segment: "LOW_FREQ", thresholdCents: 2_000, discountCents: 0)] }),
            InvalidTemplate(
                label: "tier with a blank segment", field: "tiers[0].segment",
                spec: with(base) { $0.tiers = [Tier(segment: "", thresholdCents: 2_000, discountCents: 800)] }),
        ]
    }()

    @Test(arguments: invalid)
    func refusesWithTheFieldNamed(_ invalid: InvalidTemplate) {
        do {
            try TemplateRules.validate(invalid.spec)
            Issue.record("\(invalid.label) was accepted")
        } catch {
            #expect(error.code == .invalidArgument, "\(invalid.label): \(error)")
            #expect(error.message.contains(invalid.field), "\(invalid.label): '\(error.message)' should name \(invalid.field)")
            #expect(error.message.hasPrefix(invalid.field), "\(invalid.label): '\(error.message)' should start with \(invalid.field)")
        }
    }
}
