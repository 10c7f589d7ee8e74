// The Android library module of the merchant core (an AAR). Build it with
// bindings/scripts/build-aar, which first puts the native libraries and the
// generated Kotlin bindings under build/generated/.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "merchant-core"
