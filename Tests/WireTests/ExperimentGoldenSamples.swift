@testable import Wire

/// The experiment messages' golden values (0x0130–0x0138), in PROTOCOL.md beside the others.
extension GoldenSamples {
    static let experimentSpec = ExperimentSpec(
        name: "满200减20 → 满180减20", hypothesis: "a lower threshold raises the use rate by 15%",
        arms: [
            ExperimentArmSpec(name: "control", templateId: "tpl-200", weightBuckets: 5_000),
            ExperimentArmSpec(name: "lower", templateId: "tpl-180", weightBuckets: 5_000),
        ], primaryMetric: .useRate, minLiftBasisPoints: 1_200, alphaBasisPoints: 500, decisionRule: .lowerBound)

    static func experimentView(_ status: ExperimentStatus, rolloutArm: String? = nil) -> ExperimentView {
        ExperimentView(
            experimentId: "x-1", spec: experimentSpec, status: status, rolloutArm: rolloutArm, createdMilliseconds: created,
            startedMilliseconds: status == .draft ? nil : created + 1_000,
            stoppedMilliseconds: status == .stopped || status == .rolledOut ? created + 2_000 : nil)
    }

    static let experimentResults = ExperimentResults(
        experimentId: "x-1", status: .running, primaryMetric: .useRate, decisionRule: .lowerBound, alphaBasisPoints: 500,
        minLiftBasisPoints: 1_200,
        arms: [
            ArmResult(
                name: "control", templateId: "tpl-200", weightBuckets: 5_000, exposedUsers: 1_000, claims: 1_000, uses: 200,
                orderAmountCents: 5_000_000, discountCents: 400_000, useRate: 0.2, useRatePerExposed: 0.2, roi: 11.5, costRatio: 0.08),
            ArmResult(
                name: "lower", templateId: "tpl-180", weightBuckets: 5_000, exposedUsers: 1_000, claims: 1_000, uses: 250,
                orderAmountCents: 5_000_000, discountCents: 500_000, useRate: 0.25, useRatePerExposed: 0.25, roi: 9, costRatio: 0.1),
        ],
        sampleRatio: SampleRatioCheck(chiSquared: 0, degreesOfFreedom: 1, pValue: 1, mismatch: false),
        comparisons: [
            ArmComparison(
                arm: "lower", control: "control",
                useRateTest: EffectTest(
                    control: 0.2, treatment: 0.25, difference: 0.05, differenceLow: 0.0125, differenceHigh: 0.0875, relativeLift: 0.25,
                    liftLow: 0.0625,
                    liftHigh: 0.4375, statistic: 2.5, degreesOfFreedom: nil, pValue: 0.0078125),
                perExposedTest: nil, power: 0.25, neededPerArm: 4_552, stillNeededPerArm: 3_552, seedVerdict: .rollOut,
                lowerBoundVerdict: .insufficientData)
        ],
        verdict: .insufficientData, winner: nil, reasons: ["lower vs control: significant, but the lower bound is below +12%"],
        rulesDisagree: true)

    static let experiments: [GoldenSample] = [
        GoldenSample(CreateExperimentRequest(spec: experimentSpec), experimentView(.draft)),
        GoldenSample(GetExperimentRequest(experimentId: "x-1"), experimentView(.running)),
        GoldenSample(ListExperimentsRequest(limit: 20), ExperimentList(experiments: [experimentView(.stopped)])),
        GoldenSample(StartExperimentRequest(experimentId: "x-1"), experimentView(.running)),
        GoldenSample(StopExperimentRequest(experimentId: "x-1"), experimentView(.stopped)),
        GoldenSample(RolloutExperimentRequest(experimentId: "x-1", arm: "lower"), experimentView(.rolledOut, rolloutArm: "lower")),
        GoldenSample(ExperimentResultsRequest(experimentId: "x-1"), experimentResults),
        GoldenSample(
            ExperimentAssignmentRequest(experimentId: "x-1", userId: "u-42"),
            ExperimentAssignment(experimentId: "x-1", userId: "u-42", arm: "lower", templateId: "tpl-180", bucket: 7_321, rolledOut: false)),
        GoldenSample(
            ExperimentClaimRequest(userId: "u-42", experimentId: "x-1", channel: "app", deviceId: "dev-7", ip: nil, requestId: "req-1"),
            ClaimResponse(
                couponId: "c-6", templateId: "tpl-180", expiresMilliseconds: expires, thresholdCents: 18_000, discountCents: 2_000,
                pointsLeft: nil)),
    ]
}
