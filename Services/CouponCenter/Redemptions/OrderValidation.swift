import Domain
import Wire

/// The one validation of an order that coupon-center prices (use, best): its text fields, its
/// size, its money, then the pricing contract's own check (`Discounts.orderProblem`: items add up
/// to the amount), which rule-engine runs again on what it receives.
enum OrderValidation {
    /// Items per order at most.
    static let maxItems = 500

    static func order(amountCents: Int64, items: [OrderItem]) throws(ServiceError) -> OrderSummary {
        guard amountCents >= 0, amountCents <= Money.maximum.cents else { throw ServiceError(.invalidMoney, "amount: out of range") }
        guard items.count <= maxItems else { throw ServiceError(.invalidArgument, "items: at most \(maxItems)") }
        for (index, item) in items.enumerated() {
            try TemplateRules.identifier(item.sku, field: "items[\(index)].sku")
            try TemplateRules.identifier(item.category, field: "items[\(index)].category")
            try TemplateRules.identifier(item.shopId, field: "items[\(index)].shopId")
            guard item.amountCents >= 0, item.amountCents <= Money.maximum.cents else {
                throw ServiceError(.invalidMoney, "items[\(index)].amount: out of range")
            }
        }
        let order = OrderSummary(amountCents: amountCents, items: items)
        if let problem = Discounts.orderProblem(order) { throw ServiceError(.invalidArgument, "items: \(problem.message)") }
        return order
    }
}
