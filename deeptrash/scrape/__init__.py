"""Scrape stage: search engines, the safe downloader and the offline demo renderer."""
