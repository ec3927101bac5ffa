package org.example;

import java.io.Serializable;
import java.util.List;

/** A POJO: generic callers see it as a map with a "class" key. */
public class User implements Serializable {
    private int id;
    private String name;
    private List<String> tags;

    public int getId() { return id; }
    public void setId(int id) { this.id = id; }
    public String getName() { return name; }
    public void setName(String name) { this.name = name; }
    public List<String> getTags() { return tags; }
    public void setTags(List<String> tags) { this.tags = tags; }
}
