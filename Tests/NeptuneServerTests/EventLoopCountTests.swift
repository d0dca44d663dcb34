import Testing

@testable import NeptuneServer

/// The default number of event loops neptune-server starts.
@Suite struct EventLoopCountTests {
    @Test func oneLoopPerTwoCoresAndAtLeastOne() {
        #expect(NeptuneServerService.defaultEventLoopCount(cores: 1) == 1)
        #expect(NeptuneServerService.defaultEventLoopCount(cores: 2) == 1)
        #expect(NeptuneServerService.defaultEventLoopCount(cores: 3) == 1)
        #expect(NeptuneServerService.defaultEventLoopCount(cores: 8) == 4)
    }

    @Test func aMachineReportingNoCoresStillGetsALoop() {
        #expect(NeptuneServerService.defaultEventLoopCount(cores: 0) == 1)
    }
}
