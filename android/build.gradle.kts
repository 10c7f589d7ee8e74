// Android library: the generated UniFFI bindings (package com.merchantcore.ffi),
// the facade (com.merchantcore), Android Keystore and FCM glue
// (com.merchantcore.android), and libmerchant_ffi.so for each ABI.
//
// bindings/scripts/build-aar fills build/generated/ first:
//   build/generated/uniffi/kotlin          generated Kotlin bindings
//   build/generated/jniLibs/<abi>/         libmerchant_ffi.so (arm64-v8a, armeabi-v7a, x86_64)
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.4.20"
}

android {
    namespace = "com.merchantcore"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets {
        getByName("main") {
            java.srcDir("build/generated/uniffi/kotlin")
            jniLibs.srcDir("build/generated/jniLibs")
        }
        // src/test/kotlin holds the JVM tests of the bindings. They run against
        // the host library with their own small runner (scripts/kotlin-tests),
        // not as Android unit tests, so Gradle leaves them out.
        getByName("test") {
            java.setSrcDirs(emptyList<String>())
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildTypes {
        release {
            // The library ships unminified; consumer-rules.pro keeps what JNA
            // reaches by reflection when the app minifies.
            isMinifyEnabled = false
        }
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // JNA for Android: the AAR carries libjnidispatch.so for each ABI.
    implementation("net.java.dev.jna:jna:5.13.0@aar")
    // Exported async methods are suspend functions.
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
    // FCM glue compiles against firebase-messaging; apps that use push add it.
    compileOnly("com.google.firebase:firebase-messaging:24.1.0")
}
