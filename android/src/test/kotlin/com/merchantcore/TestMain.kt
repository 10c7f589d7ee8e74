package com.merchantcore

import com.merchantcore.testing.runSuites

/** Entry point of the JVM tests; scripts/kotlin-tests runs it. */
fun main(args: Array<String>): Unit = runSuites(
    args,
    listOf(
        ValidationTests(),
        MoneyTests(),
        ErrorTests(),
        SecretStoreTests(),
        DeviceKeyTests(),
        PushTests(),
        SignInTests(),
        OnboardingTests(),
        TerminalsTests(),
        TradesTests(),
        AlertsTests(),
    ),
)
