package com.merchantcore.testing

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import java.io.File
import java.nio.file.Files
import kotlin.system.exitProcess
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource

/**
 * A very small test runner for the JVM tests of the Kotlin bindings.
 *
 * No JUnit jar is available offline here, so tests are named functions
 * registered by a [Suite]; the runner runs each one, catches its failure and
 * reports the exception. Assertions come from kotlin-test (kotlin.test.*).
 *
 * The entry point is `com.merchantcore.TestMainKt` (TestMain.kt lists the
 * suites): `java ... com.merchantcore.TestMainKt [filter...]`; a filter keeps
 * the tests whose "suite: name" contains it.
 */
class TestCase(val suite: String, val name: String, val body: () -> Unit) {
    val fullName: String get() = "$suite: $name"
}

abstract class Suite(val name: String) {
    private val cases = mutableListOf<TestCase>()
    val tests: List<TestCase> get() = cases

    /** Registers a plain test. */
    protected fun test(name: String, body: () -> Unit) {
        cases += TestCase(this.name, name, body)
    }

    /**
     * Registers a test that suspends; it fails if it does not finish within
     * [timeout] (a guard against hangs, not a speed assertion).
     */
    protected fun asyncTest(
        name: String,
        timeout: Duration = 60.seconds,
        body: suspend CoroutineScope.() -> Unit,
    ) = test(name) { runBlocking { withTimeout(timeout) { body() } } }
}

/** A fresh directory that is deleted, with everything in it, after [body]. */
inline fun <T> withTempDir(body: (File) -> T): T {
    val dir = Files.createTempDirectory("merchant-kotlin-test").toFile()
    try {
        return body(dir)
    } finally {
        dir.deleteRecursively()
    }
}

/** A required system property; a test that needs one fails clearly without it. */
fun requiredProperty(name: String): String =
    System.getProperty(name)?.takeIf { it.isNotBlank() }
        ?: throw IllegalStateException("system property -D$name is not set (scripts/kotlin-tests sets it)")

/**
 * Runs the tests of [suites] that match [filters] (all when empty), prints one
 * line per test, then the counts, ending with the plain line
 * "N passed, N failed"; exits 1 if any failed or none ran.
 */
fun runSuites(filters: Array<String>, suites: List<Suite>): Nothing {
    val all = suites.flatMap { it.tests }
    val selected = if (filters.isEmpty()) all else all.filter { t -> filters.any { t.fullName.contains(it) } }
    var passed = 0
    val failures = mutableListOf<Pair<TestCase, Throwable>>()
    val clock = TimeSource.Monotonic
    for (t in selected) {
        val start = clock.markNow()
        val error = try {
            t.body()
            null
        } catch (e: Throwable) {
            e
        }
        val took = start.elapsedNow().inWholeMilliseconds
        if (error == null) {
            passed++
            println("ok     ${t.fullName} (${took} ms)")
        } else {
            failures += t to error
            println("FAILED ${t.fullName} (${took} ms): $error")
        }
    }
    for ((t, e) in failures) {
        println()
        println("---- ${t.fullName}")
        e.printStackTrace(System.out)
    }
    println()
    println("Kotlin tests: ${selected.size} run, $passed passed, ${failures.size} failed")
    println("$passed passed, ${failures.size} failed")
    System.out.flush()
    exitProcess(if (failures.isEmpty() && selected.isNotEmpty()) 0 else 1)
}
