"""The app's pages, one short file each, registered in :data:`app.navigation.PAGES`."""
